"""malnu-tui: migrations, backups and emergency rollbacks for MA Malnu Kananga's databases."""

__version__ = "0.1.0"
