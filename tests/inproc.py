"""The CLI run inside the test process (fast: no interpreter start-up), for tests that try many
inputs. An uncaught exception is returned as a ``Traceback`` in ``err``, exactly as a real
process would show it, so a test can assert that none happens."""

from __future__ import annotations

import contextlib
import io
import traceback

from malnu_tui.cli import main
from tests.fixtures_core import CliResult


def run_inproc(*args: str) -> CliResult:
    """``malnu-tui ARGS`` in this process, with stdout/stderr captured and no terminal."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except Exception:
            err.write(traceback.format_exc())
            code = 1
    return CliResult(code, out.getvalue(), err.getvalue())
