"""Sync between the databases: the configured pairs, each table's last sync and lag, a sync
with live per-table progress (after the plan and a typed confirmation), and the verify report
with the differing keys. Every engine call runs in a worker; the screen holds no SQL."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from malnu_tui.tui.host import begin_operation, end_operation
from malnu_tui.tui.messages import LocksLeft, OperationFailed
from malnu_tui.tui.screens.sync_report import (
    VERIFIED,
    failed_report,
    progress_report,
    refused_report,
    said_lines,
    said_text,
    table_lines,
)
from malnu_tui.tui.session import reporting
from malnu_tui.tui.widgets.error_box import ErrorBox, lock_warnings
from malnu_tui.tui.widgets.header import AppHeader
from malnu_tui.tui.widgets.migration_table import elide_middle
from malnu_tui.tui.widgets.more_keys import MoreKeys
from malnu_tui.tui.widgets.plain import DataTable, Static

if TYPE_CHECKING:
    from malnu_tui.engine.config import Settings
    from malnu_tui.engine.sync import SyncPair, SyncProgress, SyncState, TablePlan, TableReport

COLUMNS = ("table", "status", "verified", "lag", "last sync (UTC)", "rows", "mode", "progress")


@dataclass
class PairsLoaded(Message):
    pairs: tuple[SyncPair, ...]


@dataclass
class StatesLoaded(Message):
    pair: str
    states: tuple[SyncState, ...]
    # The copies whose source table is gone (sync status's "✘ gone"); None: not asked yet
    # (what the last answer said is kept meanwhile).
    gone: frozenset[str] | None = None
    # The copies whose row says running with no sync at work holding the destination's lock
    # (sync status's "stopped (resumes on the next sync)"); None: not asked yet.
    stopped: frozenset[str] | None = None


@dataclass
class SyncPlanned(Message):
    pair: str
    plans: tuple[TablePlan, ...]
    database: str  # the destination's name, typed to confirm
    warnings: tuple[str, ...] = ()  # engine.sync.left_behind: copies whose source table is gone


@dataclass
class TableProgress(Message):
    progress: SyncProgress


@dataclass
class SyncStopped(Message):
    """A sync failed: the tables it synced before the error and the one it stopped at (what
    its whole chunks wrote, both sides counted as it stopped), as ``run_sync`` hands them to
    the CLI; the error itself follows as :class:`OperationFailed`."""

    done: tuple[TableReport, ...]
    stopped: tuple[TableReport, ...]


@dataclass
class SyncFinished(Message):
    what: str  # sync, verify, dry run
    reports: tuple[TableReport, ...]
    pair: str = ""
    said: tuple[str, ...] = ()  # "warning: …" and the plan's "table: note: …", as the CLI says


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s // size} {unit}"
    return f"{s} s"


class SyncScreen(Screen[None]):
    """Pairs (``[sync.NAME]`` of the config) on top, the selected pair's tables below."""

    HELP_TITLE = "Sync"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="sync.back"),
        Binding("s", "sync", "Sync", id="sync.run"),
        Binding("v", "verify", "Verify", id="sync.verify"),
        Binding("d", "dry_run", "Dry run", id="sync.dry_run"),
        Binding("F", "full", "Full resync", show=False, id="sync.full"),
        Binding("ctrl+r,f5", "reload", "Refresh", show=False, id="sync.refresh"),
    ]

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.pairs: tuple[SyncPair, ...] = ()
        self.working: str | None = None
        self.working_on = ""  # "verify of reporting": what the run's report names
        self.working_pair = ""  # the pair it runs on
        self.full = False
        self.states_for: str | None = None  # the pair whose tables are shown
        # (pair, table) → what a verify run from this screen found: newer than the last
        # sync's own verdict, which the table would otherwise keep showing ("✔ yes" beside a
        # report naming missing keys). A sync of the table replaces it.
        self.verified_now: dict[tuple[str, str], bool] = {}
        # table → its latest progress, shown under the tables while a run goes on (the
        # table's own progress column is past the right edge at 80 columns).
        self.progress_lines: dict[str, str] = {}
        self.planned_said: tuple[str, ...] = ()  # the confirmed plan's warnings and notes
        self.planned: tuple[str, ...] = ()  # the confirmed plan's tables, in its order
        self.outcome = SyncStopped((), ())  # what a failed sync synced, and where it stopped
        self.gone: dict[str, frozenset[str]] = {}  # pair → its copies whose source table is gone
        self.stopped: dict[str, frozenset[str]] = {}  # pair → its copies of a stopped sync
        self.finished_report = Text()  # the last run's report, as shown

    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield Static(Text("Sync between the databases", style="bold"), classes="screen-title")
        yield ErrorBox()
        yield DataTable(id="sync-pairs", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="sync-tables", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="sync-report-box"):  # long warnings and notes scroll
            yield Static("", id="sync-report")
        yield MoreKeys()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        pairs = self.query_one("#sync-pairs", DataTable)
        pairs.add_columns("pair", "from", "to", "tables")
        tables = self.query_one("#sync-tables", DataTable)
        # What an operator must see at 80 columns first (a "✘ source gone" status and a
        # "✘ no (verify)" pushed "verified" past the right edge); the rest scrolls (← →).
        for label in COLUMNS:
            tables.add_column(label, key=label)
        pairs.focus()
        self._load_pairs()

    # -- loading ---------------------------------------------------------------------------
    def selected(self) -> SyncPair | None:
        table = self.query_one("#sync-pairs", DataTable)
        if not self.pairs or table.cursor_row < 0:
            return None
        return self.pairs[min(table.cursor_row, len(self.pairs) - 1)]

    @work(thread=True, exclusive=True, group="sync-read")
    def _load_pairs(self) -> None:
        from malnu_tui.engine.sync import load_pairs

        with reporting(self, "sync"):
            self.post_message(PairsLoaded(tuple(load_pairs(self.settings).values())))

    @on(PairsLoaded)
    def _pairs_loaded(self, event: PairsLoaded) -> None:
        from malnu_tui.engine.sync.pairs import end_label  # a URL end's password masked

        event.stop()
        self.pairs = event.pairs
        self.refresh_bindings()  # the run keys, offered once there is a pair
        table = self.query_one("#sync-pairs", DataTable)
        table.clear()
        for p in self.pairs:
            table.add_row(
                p.name,
                end_label(p.source),
                end_label(p.dest),
                ", ".join(p.tables) or "every table",
                key=p.name,
            )
        if not self.pairs:
            self.query_one("#sync-report", Static).update(
                Text.assemble(
                    ("No sync pairs are configured. ", "bold"),
                    'Add one to malnu.toml:\n  [sync.reporting]\n  from = "primary"\n'
                    '  to = "analytics"\n  tables = ["users", "academic_records"]',
                )
            )
            return
        self._load_states()

    def action_reload(self) -> None:
        self._load_pairs()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # With no pair configured, sync, verify, dry run and full resync have nothing to run
        # on: not offered (the footer listed them, and each said "no sync pair selected").
        if action in ("sync", "verify", "dry_run", "full"):
            return bool(self.pairs)
        return True

    @on(DataTable.RowHighlighted, "#sync-pairs")
    def _pair_changed(self) -> None:
        if self.working is None:
            self._load_states()

    def _load_states(self) -> None:
        pair = self.selected()
        if pair is not None:
            self._read_states(pair)

    @work(thread=True, exclusive=True, group="sync-read")
    def _read_states(self, pair: SyncPair) -> None:
        from malnu_tui.engine.sync import (
            configured_source,
            copy_statuses,
            read_states,
            resolve_end,
        )

        with reporting(self, "sync"):
            dest = resolve_end(self.settings, pair.dest)
            # The states at once; then whether each copy's source still has its table (a
            # source that does not answer would hold them back for its connect timeout).
            self.post_message(StatesLoaded(pair.name, tuple(read_states(dest))))
            found = copy_statuses(dest, partial(configured_source, self.settings))
            gone = frozenset(c.state.table_name for c in found if c.source_has_table is False)
            stopped = frozenset(
                c.state.table_name for c in found if c.state.status == "running" and c.live is False
            )
            states = tuple(c.state for c in found)
            self.post_message(StatesLoaded(pair.name, states, gone, stopped))

    @on(StatesLoaded)
    def _states_loaded(self, event: StatesLoaded) -> None:
        from malnu_tui.engine.sync import lag_seconds

        event.stop()
        pair = self.selected()
        if pair is None or pair.name != event.pair:
            return
        self.query_one(ErrorBox).clear()
        by_table = {s.table_name: s for s in event.states}
        if event.gone is not None:
            self.gone[pair.name] = event.gone
        if event.stopped is not None:
            self.stopped[pair.name] = event.stopped
        gone = self.gone.get(pair.name, frozenset()) & set(by_table)
        stopped = self.stopped.get(pair.name, frozenset())
        names = list(pair.tables) or sorted(by_table)
        # A copy from this pair's source whose table is gone there: no run names it any more.
        names += sorted(t for t in gone - set(names) if by_table[t].source == pair.source)
        table = self.query_one("#sync-tables", DataTable)
        table.clear()
        # A school's long table name (nilai_akhir_semester_ganjil_kelas_sepuluh_…) is elided
        # in the middle so that status and verified stay on an 80-column screen; the report
        # below names it whole.
        room = max(20, self.app.size.width - 36)
        for name in names:
            st = by_table.get(name)
            shown = elide_middle(name, room)
            if st is None:
                table.add_row(shown, "never synced", "—", "—", "—", "—", "—", "", key=name)
                continue
            label, style = VERIFIED[st.verified]
            if (found := self.verified_now.get((pair.name, name))) is not None:
                label, style = VERIFIED[found]
                label += " (verify)"
            table.add_row(
                shown,
                Text("✘ source gone", style="bold red")
                if name in gone
                # A stopped or killed sync's row keeps "running" (the next sync resumes from
                # it): said so, not as a sync at work.
                else Text("⏸ stopped", style="yellow")
                if name in stopped and st.status == "running"
                else st.status,
                Text(label, style=style),
                _age(lag_seconds(st)),
                st.finished_at or "—",
                "—" if st.dest_count is None else f"{st.dest_count:,}",
                st.mode,
                "",
                key=name,
            )
        self.states_for = pair.name

    @on(OperationFailed)
    def _failed(self, event: OperationFailed) -> None:
        event.stop()
        if (
            self.working is not None
            and event.refused
            and not (self.outcome.done or self.outcome.stopped)
        ):  # refused before it began: said whole where it scrolls, with the way out
            self.query_one(ErrorBox).clear()
            self.query_one("#sync-report", Static).update(
                refused_report(
                    self.working_on or self.working,
                    event.message,
                    event.hint,
                    self.working_pair,
                    self.settings.config_path,
                    writes=self.working == "sync",
                )
            )
            self._done()
            return
        self.query_one(ErrorBox).show_error(  # refused after tables were written: "failed"
            event.message,
            event.hint,
            what=self.working_on or event.what,
            refused=event.refused and self.working is None,
        )
        if self.working is not None:  # a run, not a read of the states
            self.query_one("#sync-report", Static).update(
                failed_report(
                    self.working_on or self.working,
                    self.progress_lines,
                    self.outcome.done,
                    self.outcome.stopped,
                    self.planned,
                )
            )
            tables = self.query_one("#sync-tables", DataTable)
            names = {str(k.value) for k in tables.rows}
            for name, line in self.progress_lines.items():
                if line != "done" and name in names:
                    tables.update_cell(name, "progress", f"✘ stopped at {line}")
        self._done()

    # -- sync, verify, dry run ----------------------------------------------------------------
    def _start(self, what: str) -> SyncPair | None:
        pair = self.selected()
        if pair is None:
            self.notify("no sync pair selected", severity="warning", timeout=3, markup=False)
            return None
        if self.working is not None or not begin_operation(self.app, what):
            return None
        self.working = what
        self.working_on = f"{what} of {pair.name}"
        self.working_pair = pair.name
        self.progress_lines = {}
        self.planned_said = ()
        self.planned = ()
        self.outcome = SyncStopped((), ())
        self.query_one(ErrorBox).clear()
        self.query_one("#sync-report", Static).update(f"{what} of {pair.name}: reading both sides…")
        return pair

    def _done(self) -> None:
        if self.working is not None:
            self.working = None
            end_operation(self.app)

    def action_back(self) -> None:
        if self.working is not None:
            self.notify(
                f"{self.working} is running; wait for it to finish",
                severity="warning",
                markup=False,
            )
            return
        self.app.pop_screen()

    def action_verify(self) -> None:
        pair = self._start("verify")
        if pair is not None:
            self._run(pair, "verify")

    def action_dry_run(self) -> None:
        pair = self._start("dry run")
        if pair is not None:
            self._run(pair, "dry run")

    def action_sync(self, full: bool = False) -> None:
        self.full = full
        pair = self._start("sync")
        if pair is not None:
            self._plan(pair)

    def action_full(self) -> None:
        self.action_sync(full=True)

    def _request(self, pair: SyncPair) -> object:
        from malnu_tui.engine.sync import SyncRequest

        return SyncRequest(
            tables=pair.tables,
            full=self.full,
            overlap_seconds=pair.overlap_seconds,
            cursor=pair.cursor,
            chunk_rows=pair.chunk_rows,
            cursor_named_in=f"{self.settings.config_path}: [sync.{pair.name}] cursor",
        )

    def _progress(self, p: SyncProgress) -> None:
        self.post_message(TableProgress(p))

    @work(thread=True, exclusive=True, group="sync-run")
    def _plan(self, pair: SyncPair) -> None:
        from malnu_tui.engine.sync import SyncSession, left_behind, plan_sync, resolve_end

        with reporting(self, "plan"):
            source, dest = (
                resolve_end(self.settings, pair.source),
                resolve_end(self.settings, pair.dest),
            )
            with SyncSession(source, dest, read_only=True) as s:  # a preview writes nothing
                gone = (*s.notes, *left_behind(s.src, s.dst, source.name))
                plans = plan_sync(s, self._request(pair))  # type: ignore[arg-type]
                self.post_message(SyncPlanned(pair.name, tuple(plans), s.dst.backend.name, gone))

    @on(SyncPlanned)
    def _planned(self, event: SyncPlanned) -> None:
        from malnu_tui.engine.sync.pairs import end_label
        from malnu_tui.tui.screens.confirm import ConfirmScreen

        event.stop()
        pair = next(p for p in self.pairs if p.name == event.pair)
        source, dest = end_label(pair.source), end_label(pair.dest)  # a URL's password masked
        lines = [f"{source} → {dest}" + (" (full resync)" if self.full else "")]
        lines.extend(f"warning: {w}" for w in event.warnings)
        self.planned_said = said_lines(event.warnings, event.plans)
        self.planned = tuple(p.table for p in event.plans)
        for p in event.plans:
            what: str = "create the table, full copy" if p.create else p.mode
            lines.append(
                f"  {p.table}: {what}; source {p.source_count:,} rows, destination {p.dest_count:,}"
            )
            lines.extend(f"    note: {n}" for n in p.notes)  # a resumed run's among them
            # Before the word is typed (a Supabase copy the API serves with row level
            # security off): said after the run alone, once the rows were written there.
            lines.extend(f"    ⚠ warning: {w}" for w in p.warnings)
        self.query_one("#sync-report", Static).update("\n".join(lines))

        def answered(ok: bool | None) -> None:
            if ok:
                self._run(pair, "sync")
            else:
                self.query_one("#sync-report", Static).update("sync cancelled: nothing was written")
                self._done()

        self.app.push_screen(
            ConfirmScreen(
                f"Sync {len(event.plans)} table(s) into {dest}?",
                "\n".join(lines),
                event.database,
                "Sync",
            ),
            answered,
        )

    @work(thread=True, exclusive=True, group="sync-run")
    def _run(self, pair: SyncPair, what: str) -> None:
        from malnu_tui.engine.sync import (
            SyncSession,
            dry_run,
            left_behind,
            plan_sync,
            resolve_end,
            run_sync,
            verify_sync,
        )

        with reporting(self, what):
            source, dest = (
                resolve_end(self.settings, pair.source),
                resolve_end(self.settings, pair.dest),
            )
            with SyncSession(source, dest, read_only=what != "sync") as s:
                said = self.planned_said  # a sync: what its confirmed plan said
                if what != "sync":
                    said = said_lines((*s.notes, *left_behind(s.src, s.dst, source.name)))
                if what == "verify":
                    reports = verify_sync(s, pair.tables, self._progress)
                elif what == "dry run":
                    plans = plan_sync(s, self._request(pair))  # type: ignore[arg-type]
                    said += said_lines((), plans)
                    reports = dry_run(s, plans, self._progress)
                else:
                    done: list[TableReport] = []
                    stopped: list[TableReport] = []
                    try:
                        reports = run_sync(s, self._request(pair), self._progress, done, stopped)  # type: ignore[arg-type]
                    except BaseException:  # shown under the error, as the CLI's --json says it
                        self.post_message(SyncStopped(tuple(done), tuple(stopped)))
                        raise
            self.post_message(SyncFinished(what, tuple(reports), pair.name, said))

    @on(TableProgress)
    def _progressed(self, event: TableProgress) -> None:
        event.stop()
        p = event.progress
        table = self.query_one("#sync-tables", DataTable)
        total = f"/{p.total:,}" if p.total is not None else ""
        speed = f" ({p.rate:,.0f}/s)" if p.rate else ""
        text = "done" if p.phase == "done" else f"{p.phase} {p.rows:,}{total}{speed}"
        if p.table in {str(k.value) for k in table.rows}:
            table.update_cell(p.table, "progress", text)
        if self.working is None:
            return
        self.progress_lines[p.table] = text
        self.query_one("#sync-report", Static).update(
            progress_report(self.working, self.progress_lines)
        )

    @on(SyncStopped)
    def _stopped(self, event: SyncStopped) -> None:
        event.stop()
        self.outcome = event

    @on(SyncFinished)
    def _finished(self, event: SyncFinished) -> None:
        event.stop()
        self._done()
        out = said_text(event.said)
        for r in event.reports:
            if event.what == "verify":
                self.verified_now[(event.pair, r.table)] = r.verified
            elif event.what == "sync":
                self.verified_now.pop((event.pair, r.table), None)
            out.append_text(table_lines(r, event.what))
        self.finished_report = out
        self.query_one("#sync-report", Static).update(out)
        self._load_states()

    @on(LocksLeft)
    def _locks_left(self, event: LocksLeft) -> None:
        """Done, but the destination's lock row stayed (D1 unanswered as the sync released it):
        said under the report with its way out, as the CLI's ``warning:`` lines say it (the
        screen said the sync done alone; LocksLeft reached no handler)."""
        event.stop()
        out = self.finished_report.copy()
        if out.plain and not out.plain.endswith("\n"):
            out.append("\n")
        out.append_text(lock_warnings(event.lines))
        self.query_one("#sync-report", Static).update(out)
