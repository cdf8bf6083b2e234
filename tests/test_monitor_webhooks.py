"""Which webhook an alert line names, and a receiver that redirects: `check --alert` on a real
SQLite database with a real local HTTP receiver (tests/webhook_support.py)."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures_core import MigrationDirs
from tests.inproc import run_inproc
from tests.webhook_support import Receiver


def test_each_alert_line_names_its_webhook_and_a_redirect_is_said(
    tmp_path: Path, mdirs: MigrationDirs, receiver: Receiver
) -> None:
    """Two webhooks on one host (two Slack channels' are both hooks.slack.com) read the same
    masked: `alert FAILED … → json http://127.0.0.1:…/***` did not say which one to mend.
    Each line now names its place in the config (`#1`). A receiver answering 301 was tried
    again and again (`HTTP 301 after 3 tries`) without a word of where it had moved; it is
    tried once and says where (masked), the URL's secret never shown."""
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    mdirs.add("20250101_000200", "b", "INSERT INTO nosuch VALUES (1);")
    hooks = "".join(
        f'\n[[alerts.webhooks]]\nkind = "{kind}"\nurl = "{url}"\ntimeout = 5\nretries = 2\n'
        for kind, url in (
            ("json", receiver.url("moved")),
            ("json", receiver.url("json")),
            ("slack", receiver.url("slack")),
        )
    )
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[backup]\ndir = "{tmp_path / "b"}"\n[targets.primary]\n'
        f'url = "sqlite:///{tmp_path / "p.db"}"\nmigrations_dir = "{mdirs.migrations}"\n'
        f'rollback_dir = "{mdirs.rollback}"\n{hooks}',
        encoding="utf-8",
    )
    c = ["--config", str(cfg)]
    assert run_inproc(*c, "up", "--yes").code == 1  # b fails: a CRITICAL to alert
    res = run_inproc(*c, "check", "--alert")
    assert res.code == 2, res.out + res.err
    host = f"http://127.0.0.1:{receiver.server.server_address[1]}"
    key = "primary|failed_migrations|20250101_000200_b.sql"
    assert f"alert sent: problem {key} → #2 json {host}/***" in res.err, res.err
    assert f"alert sent: problem {key} → #3 slack {host}/***" in res.err, res.err
    assert (
        f"alert FAILED (retried next run): problem {key} → #1 json {host}/***: HTTP 301: "
        f"the receiver redirects to {host}/***; not followed: set its url to the new address"
    ) in res.err, res.err
    assert receiver.attempts == 3, "the 301 is not tried again in the run (retries = 2)"
    said = res.out + res.err  # not the path, nor its last part (the redirect's is path + "-new")
    assert receiver.secret not in said and receiver.secret.split("/")[-1] not in said
    assert receiver.events("json") == [("problem", key)]


def test_a_webhook_that_cannot_be_reached_says_what_the_connection_met(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A receiver's certificate refused, a name that does not resolve, a port that refuses:
    each was `alert FAILED … ConnectError after 3 tries`, alike. What TLS or the system said
    is now in the line; the URL never is."""
    port = receiver.url().split(":")[2].split("/")[0]
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.primary]\nurl = "sqlite:///{tmp_path / "gone.db"}"\n'
        f'[[alerts.webhooks]]\nurl = "https://127.0.0.1:{port}/json/{receiver.secret}"\n'
        "retries = 0\n"
        f'[[alerts.webhooks]]\nurl = "http://127.0.0.1:1/json/{receiver.secret}"\nretries = 0\n'
    )
    res = run_inproc("--config", str(cfg), "check", "--alert")
    assert res.code == 3, res.out + res.err
    failed = [line for line in res.err.splitlines() if line.startswith("alert FAILED")]
    assert len(failed) == 2, res.err
    assert "#1 json https://127.0.0.1:" in failed[0] and ": ConnectError ([SSL" in failed[0]
    assert ": ConnectError (" in failed[1] and "SSL" not in failed[1], failed  # refused: told apart
    assert receiver.secret not in res.err and receiver.secret.split("/")[-1] not in res.err


def test_what_a_failed_webhook_met_is_masked_before_it_is_cut_short() -> None:
    """The error's text was cut at 200 characters, then the URL masked in it: a URL standing
    across the cut was no longer found whole, and the Slack token before the cut was shown;
    a text quoting only the path's last segment (the token) showed it too."""
    from malnu_tui.engine.monitor.config import Webhook
    from malnu_tui.engine.monitor.webhooks import _what_it_met

    token = "XyZ0123456789abcdefSECRET"
    hook = Webhook("slack", f"https://hooks.slack.com/services/T0AB12/B0CD34/{token}")
    for text in (
        "x" * 170 + f" while sending to {hook.url}: failed",  # the URL across the cut
        f"bad path segment {token!r}",  # only the token quoted
    ):
        said = _what_it_met(hook, ConnectionError(text))
        assert token[:8] not in said and "B0CD34" not in said, said
        assert said.startswith("ConnectionError (") and "***" in said, said
