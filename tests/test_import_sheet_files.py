"""Files as a school's staff really produce them (Excel in the Indonesian locale, Dapodik),
written by the test and imported for real: each read as the file means it, or refused in one
line naming the file, the line and the value, never stored as a wrong value."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from malnu_tui.engine.data import ImportRequest, InputFileError
from tests.import_support import ImportTarget, import_into


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImportTarget]:
    """One SQLite database for the module: ``siswa`` of the types a grade sheet fills."""
    root = tmp_path_factory.mktemp("sheets")
    t = ImportTarget("sqlite", f"sqlite:///{root / 'school.db'}", root)
    t.execute(
        "CREATE TABLE siswa (nis TEXT PRIMARY KEY, nama TEXT NOT NULL, nisn TEXT, "
        "lahir DATE, nilai REAL, spp NUMERIC(12,2))"
    )
    yield t


def test_a_file_cut_short_in_the_middle_of_a_character(school: ImportTarget) -> None:
    # A copy or a download that stopped part way ends in the middle of a character: it was
    # "not valid utf-8" naming no line and giving no reason (for UTF-16, Excel's Unicode
    # Text cut at an odd byte, the same). Now its last line, and what happened to the file.
    text = "nis;nama\r\n1;Ani\r\n2;José"
    cut = {
        "cut.csv": text.encode()[:-1],
        "cut.txt": text.replace(";", "\t").encode("utf-16")[:-1],
    }
    for name, data in cut.items():
        path = school.root / name
        path.write_bytes(data)
        with pytest.raises(InputFileError) as err:
            import_into(school, ImportRequest("siswa", file=path))
        assert str(err.value).startswith(f"{path}:3: the file ends in the middle of a character")
        assert "cut short" in str(err.value) and err.value.exit_code == 2
        assert school.count("siswa") == 0
