"""What a webhook is sent, and how: the documented JSON body and Slack's message (its control
characters escaped), one POST under a deadline for the whole answer, the tries and their waits.
Sending never prints; a webhook URL is a secret, said only masked (by the caller). Which
incident is sent when is :mod:`.alerts`'s."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

from malnu_tui.engine.clock import json_time
from malnu_tui.engine.monitor.config import Webhook, mask_webhook

__all__ = ["Sender", "hook_id", "http_sender", "json_body", "slack_body"]

Sender = Callable[[Webhook, dict[str, Any]], None]


def hook_id(hook: Webhook) -> str:
    """The webhook's name in the incident state (its kind and URL hashed: no secret kept)."""
    return hashlib.sha256(f"{hook.kind}|{hook.url}".encode()).hexdigest()[:16]


def json_body(event: str, inc: dict[str, Any], at: str) -> dict[str, Any]:
    """The documented body of ``kind = "json"`` webhooks."""
    return {
        "event": event,  # "problem" or "resolved"
        "target": inc["target"],
        "check": inc["check"],
        "object": inc.get("object", ""),
        "severity": inc["severity"] if event == "problem" else "OK",
        "message": inc["message"],
        # ISO 8601 with the offset (an incident opened by an older version holds the audit
        # table's form in the state file: said the same way)
        "since": json_time(inc.get("since")),
        "at": json_time(at),
        "source": "malnu-tui",
    }


def _slack_escaped(text: object) -> str:
    """Slack's three control characters escaped as its docs ask: a message quoting data (a
    duplicate key's value, a file name) must never ping `<!channel>` or show a link."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(event: str, inc: dict[str, Any], at: str) -> dict[str, Any]:
    """A Slack incoming-webhook message."""
    target, message = _slack_escaped(inc["target"]), _slack_escaped(inc["message"])
    if event == "problem":
        text = f":rotating_light: MALNU {inc['severity']} {target}: {message}"
    elif inc.get("closed"):  # not fixed: no longer checked (the message says why)
        text = f":grey_question: MALNU RESOLVED {target}: {message}"
    else:
        text = f":white_check_mark: MALNU RESOLVED {target}: {message}"
    return {"text": text}


def _post(hook: Webhook, body: dict[str, Any]) -> tuple[int, str, str]:
    """One try: the answer's status code, its ``Location`` (a redirect's, else "") and its
    ``Retry-After`` (else ""), all of it within ``hook.timeout`` seconds. httpx's
    own timeout is per read (an answer dripped a byte at a time never trips it), so the try
    runs under one asyncio deadline that closes the connection; TimeoutError when it passes."""
    import asyncio

    import httpx

    async def post() -> tuple[int, str, str]:
        # httpx's timeouts a little later than the deadline: the deadline is what is said.
        async with httpx.AsyncClient(timeout=hook.timeout + 1) as client:
            async with asyncio.timeout(hook.timeout):
                answer = await client.post(hook.url, json=body)
                headers = answer.headers
                return (
                    answer.status_code,
                    headers.get("location", ""),
                    headers.get("retry-after", ""),
                )

    # Not asyncio.run(): at its end it waits for a name lookup still running in a thread.
    loop = asyncio.new_event_loop()
    task = loop.create_task(post())
    try:
        return loop.run_until_complete(task)
    finally:
        # Stopped from outside (SIGTERM, Ctrl-C, raised while the loop waits): the try is
        # cancelled and let finish, its connection closed, not left pending for the garbage
        # collector to report ("Task was destroyed but it is pending!") on stderr.
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        elif not task.cancelled():
            # Stopped inside the task itself (the signal came while its code ran): the
            # exception is the task's too, and one never retrieved is reported by the
            # garbage collector ("Task exception was never retrieved") after "terminated".
            with contextlib.suppress(BaseException):
                task.exception()
        loop.close()


def _what_it_met(hook: Webhook, exc: Exception) -> str:
    """``ConnectError ([SSL: CERTIFICATE_VERIFY_FAILED] …)``: the error's kind and what the
    TLS library or the system said, which tells a certificate from a name that does not
    resolve or a port that refuses (it said ``ConnectError`` alone); never the URL, whose
    path is the secret: any of it in the text is masked."""
    from urllib.parse import urlsplit

    said = " ".join(str(exc).split())
    parts = urlsplit(hook.url)
    # (masked before it is cut short: a URL cut at the cut was no longer found whole; a path's
    # segments too, Slack's token among them, where the text quotes only some of the path)
    segments = [seg for seg in parts.path.split("/") if len(seg) >= 6]
    for piece in sorted((hook.url, parts.path, parts.query, *segments), key=len, reverse=True):
        if len(piece) > 1:
            said = said.replace(piece, "***")
    said = said[:200]
    return f"{type(exc).__name__} ({said})" if said else type(exc).__name__


def http_sender(hook: Webhook, body: dict[str, Any]) -> None:
    """POST ``body`` with httpx: ``hook.retries`` more tries after a failure, each given
    ``hook.timeout`` seconds in all (connect, send, the whole answer). Raises RuntimeError
    with a masked reason when every try failed."""
    import httpx

    last = ""
    for attempt in range(hook.retries + 1):
        if attempt:
            time.sleep(min(0.25 * attempt, 1.0))
        try:
            status, location, retry_after = _post(hook, body)
        except TimeoutError:
            last = f"timed out ({hook.timeout:g} s per try)"
            continue
        except httpx.HTTPError as exc:
            last = _what_it_met(hook, exc)
            continue
        if status < 300:
            return
        last = f"HTTP {status}"
        if status == 429:
            # Rate limited (Slack: about one message a second per webhook): a try again at
            # once only adds to the limit, and its waits are the receiver's to name (tried
            # three times in 0.75 s, each refused, the next cron run the same). The next run
            # tries again; the rest of this run sends this webhook nothing (alerts.py).
            wait = f"; it asks for {retry_after.strip()} s" if retry_after.strip().isdigit() else ""
            raise RuntimeError(f"{last}: the receiver rate-limits this webhook{wait}; not "
                               "tried again in this run")  # fmt: skip
        if 400 <= status < 500 and status not in (408, 425):
            # Refused as sent (Slack: 403 invalid_token, 404 no_service, 410 channel archived):
            # it answers the same to every try, three of them each run, every minute.
            raise RuntimeError(
                f"{last}: the receiver refuses it (a wrong or revoked url, or a body it does not "
                "take); not tried again in this run"
            )
        if 300 <= status < 400:
            # Not followed (a 301/302 turns the POST into a GET without its body) and not
            # tried again (it answers the same): where it points is said, masked, so the
            # operator can put that URL in the config (an http:// URL moved to https://).
            moved = urljoin(hook.url, location) if location else ""
            where = f" to {mask_webhook(moved)}" if moved else ""
            raise RuntimeError(
                f"{last}: the receiver redirects{where}; not followed: set its url to the new "
                "address"
            )
    tries = hook.retries + 1
    raise RuntimeError(f"{last} after {tries} {'try' if tries == 1 else 'tries'}")
