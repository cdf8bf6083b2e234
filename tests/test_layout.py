"""The layout check of the test command (scripts/check_layout.py) on small made-up packages:
cycles through deferred imports are found and named as a path, TYPE_CHECKING imports are not
edges, long modules fail unless allowed for now, and a stale allowance fails too."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_layout.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_layout", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_layout"] = module
    spec.loader.exec_module(module)
    return module


check_layout = _load()


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "malnu_tui" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_cycle_through_a_function_level_import_is_named_as_a_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(
        tmp_path,
        {
            "__init__.py": "",
            "engine/__init__.py": "",
            "engine/a.py": "from malnu_tui.engine.b import B\n",
            "engine/b.py": "B = 1\n\n\ndef f():\n    from . import c\n    return c\n",
            "engine/c.py": "import malnu_tui.engine.a\n",
        },
    )
    assert check_layout.main(root, {}) == 1
    err = capsys.readouterr().err
    assert (
        "import cycle: malnu_tui.engine.a (line 1) -> malnu_tui.engine.b (line 5) -> "
        "malnu_tui.engine.c (line 1) -> malnu_tui.engine.a"
    ) in err


def test_type_checking_imports_and_package_inits_are_not_cycles(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "__init__.py": "",
            # the package re-exports high, high imports its sibling: not a cycle
            "pkg/__init__.py": "from malnu_tui.pkg.high import H\n",
            "pkg/high.py": "from malnu_tui.pkg import low\n\nH = low.X\n",
            # low -> other -> high -> low only through an annotation import: not a cycle
            "pkg/low.py": "import malnu_tui.other\n\nX = 1\n",
            "other.py": (
                "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                "    from malnu_tui.pkg.high import H\n"
            ),
        },
    )
    assert check_layout.main(root, {}) == 0


def test_long_modules_fail_unless_allowed_and_a_stale_allowance_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long = "x = 1\n" * (check_layout.MAX_LINES + 1)
    root = make_tree(tmp_path, {"__init__.py": "", "big.py": long, "small.py": "x = 1\n"})
    assert check_layout.main(root, {}) == 1
    assert "malnu_tui/big.py: 601 lines" in capsys.readouterr().err
    assert check_layout.main(root, {"malnu_tui/big.py": "being split"}) == 0
    assert check_layout.main(root, {"malnu_tui/small.py": "split already"}) == 1
    assert "remove it from ALLOW_LONG" in capsys.readouterr().err
