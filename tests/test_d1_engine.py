"""The engine suite of ``test_engine.py`` run unchanged against a ``d1://`` target on the local
D1-compatible server: apply, failure in the middle, rollback, drift, template files…"""

from __future__ import annotations

import pytest

from tests import test_engine as engine_suite
from tests.fixtures_d1 import D1Target


@pytest.fixture
def engine_url(d1: D1Target) -> str:
    """Overrides the sqlite/postgresql parametrised fixture for the tests imported below."""
    return d1.url


test_every_state_in_status = engine_suite.test_every_state_in_status
test_apply_and_rollback_by_steps_and_target = (
    engine_suite.test_apply_and_rollback_by_steps_and_target
)
test_failure_in_the_middle_leaves_nothing = engine_suite.test_failure_in_the_middle_leaves_nothing
test_drift_blocks_up_and_crlf_is_not_drift = engine_suite.test_drift_blocks_up_and_crlf_is_not_drift
test_seed_template_files_are_recorded_once = engine_suite.test_seed_template_files_are_recorded_once
test_missing_rollback_refused_before_any_change = (
    engine_suite.test_missing_rollback_refused_before_any_change
)
