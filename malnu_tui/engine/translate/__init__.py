"""SQLite → PostgreSQL translation of migrations (sqlglot plus the project's rewrites).

No UI here: callers get frozen values (:class:`FileTranslation`, :class:`Finding`) and format
them themselves. The names below are imported on first use (PEP 562): a caller that needs only
the type mapping (``translate.types``, e.g. the sync) never loads sqlglot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from malnu_tui.engine.lazy import lazy_exports

if TYPE_CHECKING:
    from malnu_tui.engine.translate.core import (
        TRANSLATE_WHOLE_BYTES,
        name_dependents,
        translate_expression,
        translate_migration,
        translate_migrations,
        translate_script,
        translate_statement,
        translate_statements,
    )
    from malnu_tui.engine.translate.functions import Untranslatable
    from malnu_tui.engine.translate.model import (
        FileTranslation,
        Finding,
        Severity,
        TranslatedStatement,
    )
    from malnu_tui.engine.translate.schema import ColumnInfo, SchemaState
    from malnu_tui.engine.translate.types import TypeMapping, format_type, map_type
    from malnu_tui.engine.translate.units import (
        PostgresUnits,
        Untranslated,
        postgres_plan,
        postgres_units,
    )

__all__ = [
    "TRANSLATE_WHOLE_BYTES",
    "ColumnInfo",
    "FileTranslation",
    "Finding",
    "PostgresUnits",
    "SchemaState",
    "Severity",
    "TranslatedStatement",
    "TypeMapping",
    "Untranslatable",
    "Untranslated",
    "format_type",
    "map_type",
    "name_dependents",
    "postgres_plan",
    "postgres_units",
    "translate_expression",
    "translate_migration",
    "translate_migrations",
    "translate_script",
    "translate_statement",
    "translate_statements",
]

_WHERE = {
    "TRANSLATE_WHOLE_BYTES": "core",
    "name_dependents": "core",
    "translate_expression": "core",
    "translate_migration": "core",
    "translate_migrations": "core",
    "translate_script": "core",
    "translate_statement": "core",
    "translate_statements": "core",
    "Untranslatable": "functions",
    "FileTranslation": "model",
    "Finding": "model",
    "Severity": "model",
    "TranslatedStatement": "model",
    "ColumnInfo": "schema",
    "SchemaState": "schema",
    "TypeMapping": "types",
    "format_type": "types",
    "map_type": "types",
    "PostgresUnits": "units",
    "Untranslated": "units",
    "postgres_plan": "units",
    "postgres_units": "units",
}


__getattr__ = lazy_exports(__name__, _WHERE)
