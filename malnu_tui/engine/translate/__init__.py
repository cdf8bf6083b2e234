"""SQLite → PostgreSQL translation of migrations (sqlglot plus the project's rewrites).

No UI here: callers get frozen values (:class:`FileTranslation`, :class:`Finding`) and format
them themselves.
"""

from malnu_tui.engine.translate.core import (
    name_dependents,
    translate_expression,
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
    "translate_migrations",
    "translate_script",
    "translate_statement",
    "translate_statements",
]
