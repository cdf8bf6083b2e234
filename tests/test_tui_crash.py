"""The console's crash report (Textual's traceback, every frame's locals) prints no secret."""

from __future__ import annotations

import pytest

from tests.test_tui_wizards import demo as demo  # the fixture
from tests.test_tui_wizards import loaded, make_app
from tests.tui_demo import Demo, wait_until

pytestmark = pytest.mark.anyio

PASSWORD = "Rahasia-Jam2-Pagi"
LONG_PASSWORD = "x" * 70 + "-Kunci-Lama-99"


def _explode() -> None:
    dsn = f"postgresql://malnu:{PASSWORD}@db.sekolah.internal:5432/akademik"
    # A long one: Textual's report cut it at 80 characters, inside its password (before its
    # "@"), where no pattern can tell a password from a host.
    legacy = f"mysql://root:{LONG_PASSWORD}@legacy/old_school"  # noqa: F841
    raise RuntimeError(f"lost the connection to {dsn}")


async def test_a_crash_prints_no_password_of_a_url_held_in_a_plain_string(
    demo: Demo, capsys: pytest.CaptureFixture[str]
) -> None:
    # Textual prints every frame's locals by their repr: a plain `str` holding a URL showed
    # its password, and so did the exception's message.
    app = make_app(demo)
    with pytest.raises(RuntimeError):
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: loaded(app))
            app.call_later(_explode)
            await pilot.pause(0.5)
    report = capsys.readouterr().err
    assert "_explode" in report and "lost the connection to" in report  # the report is there
    assert " dsn = 'postgresql://malnu:***@db.sekolah" in report  # its locals, masked
    assert PASSWORD not in report and "Kunci-Lama" not in report, report
    assert "xxxxxxxxxx" not in report, report
