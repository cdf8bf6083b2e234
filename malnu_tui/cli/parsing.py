"""The CLI's argparse parser: the contract every command's parser keeps (a bad argument is one
``error:`` line and exit 2, options named in full, no empty value) and the global options each
command takes. Apart from ``malnu_tui.cli`` so that a command module can build with them too."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from malnu_tui.cli.argtypes import not_empty


class Parser(argparse.ArgumentParser):
    """argparse with the CLI contract: a bad argument is one ``error:`` line and exit 2, a
    value starting with ``-`` and a digit (``--to -30m``, ``--at -2h``) is a value, never an
    option (no option of ours looks like that), and an option is named in full: argparse took
    any unambiguous prefix (``sync --ful`` ran a full recopy), and a script's ``--from-another``
    would have changed meaning, silently, the day a second ``--from-…`` option came. A prefix
    is refused with the options it could mean. Sub-parsers inherit the class."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # argparse's own rule only covers plain negative numbers (-5, -1.5): widen it to units.
        self._negative_number_matcher = re.compile(r"^-\d")

    last_error = ""  # the message of the last usage error (``check`` says it as UNKNOWN)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        tokens = list(sys.argv[1:] if args is None else args)
        self._refuse_prefixes(tokens)
        return super().parse_known_args(tokens, namespace)

    def _refuse_prefixes(self, tokens: Sequence[str]) -> None:
        """A long option of this parser's that is only the beginning of one (or more) of its
        options: a usage error naming them. A parser with sub-commands reads only the tokens
        before its command word (the rest are the sub-command's, checked by its parser)."""
        options = self._option_string_actions
        skip = False
        for token in tokens:
            if skip:  # (a value never starts with "--": an option given no value is read)
                skip = False
                if not token.startswith("--"):
                    continue
            if token == "--":
                return
            if not token.startswith("--"):
                if self._subparsers is not None and not token.startswith("-"):
                    return  # the command word
                continue
            name, equals, _value = token.partition("=")
            if name in options:
                skip = not equals and options[name].nargs != 0  # its value follows
                continue
            meant = sorted(o for o in options if o.startswith("--") and o.startswith(name))
            if meant:
                said = meant[-1] if len(meant) == 1 else f"{', '.join(meant[:-1])} or {meant[-1]}"
                self.error(
                    f"unrecognized option {name}: options are never abbreviated; "
                    f"did you mean {said}?"
                )

    def error(self, message: str) -> NoReturn:
        from malnu_tui.engine.monitor.debuglog import mask_secrets

        # argparse quotes what it could not place: a URL typed where the command goes, or
        # after an option the command lacks ("invalid choice: 'postgresql://u:pw@…'").
        message = mask_secrets(message)
        Parser.last_error = message
        self.exit(2, f"error: {message}\nhint: `{self.prog} --help` lists the options\n")


def common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    d = argparse.SUPPRESS if suppress else None
    g = parser.add_argument_group("target options")
    g.add_argument(
        "--database",
        metavar="URL",
        default=d,
        type=not_empty,
        help="sqlite:///path.db, postgresql://user@host/db or d1://ACCOUNT/DATABASE",
    )
    g.add_argument(
        "--target",
        metavar="NAME",
        default=d,
        type=not_empty,
        help="a named target from the config",
    )
    g.add_argument(
        "--config",
        metavar="PATH",
        default=d,
        type=not_empty,
        help="config file (default: $MALNU_CONFIG, else ./malnu.toml, else "
        "~/.config/malnu-tui/malnu.toml)",
    )
    g.add_argument("--migrations-dir", metavar="DIR", default=d, type=not_empty)
    g.add_argument("--rollback-dir", metavar="DIR", default=d, type=not_empty)
    g.add_argument(
        "--json",
        action="store_true",
        default=d if suppress else False,
        help="machine-readable output on stdout",
    )
    g.add_argument(
        "--debug",
        action="store_true",
        default=d if suppress else False,
        help="log each statement and D1 request with its time (also MIGRATION_DEBUG=1)",
    )
    g.add_argument(
        "--yes",
        "-y",
        action="store_true",
        default=d if suppress else False,
        help="confirm destructive operations (required without a terminal)",
    )


def no_empty_values(parser: argparse.ArgumentParser) -> None:
    """Every option whose value no ``type=`` reads refuses an empty one, as ``--database ""``
    does: a script's unset variable meant "not given", so ``up --to "$VERSION"`` applied every
    pending migration, ``import --map ""`` loaded the file unmapped, ``sync --tables ""``
    copied every table, ``test --seed ""`` ran without its data."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                no_empty_values(command)
        elif action.option_strings and action.nargs != 0 and not (action.type or action.choices):
            action.type = not_empty  # (a value that no type or choice reads)
