"""A real webhook receiver for the alert tests: an HTTP server on 127.0.0.1 in a thread, and
the ``receiver`` fixture (a pytest plugin of conftest.py) that each alert test file uses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# The path of every fixture receiver's URLs: a webhook's secret, never to be shown.
HOOK_SECRET = "T000/B000/XyZsecretPath42"


class Receiver:
    """Records every JSON body it is sent (with the path it came to). ``mode``: "ok" answers
    200, "500" answers 500, "429" answers 429 (Retry-After: 30), "404" answers 404, "hang"
    answers (500) only when the test ends; ``fail`` = "500";
    "drip" answers 200 one byte every ``DRIP_S`` seconds, status line and headers included
    (each read of the client's is quick, the whole answer is slow), counting in ``hung_up``
    the tries whose client went away before the answer was whole.
    A URL under ``/moved/`` answers 301 to one under ``/json/``.
    Its URLs end in ``secret`` (a webhook's path is a secret: tests check it is never shown)."""

    DRIP_S = 0.1
    DRIP = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nok, received, thanks"

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.hung_up = 0
        self.changed = threading.Condition()
        self.mode = "ok"
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.changed:
                    outer.attempts += 1
                    outer.changed.notify_all()
                if self.path.startswith("/moved/"):  # a receiver that moved (http → https…)
                    self.send_response(301)
                    self.send_header("Location", f"/json/{outer.secret}-new")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if outer.mode == "hang":
                    outer.release.wait(30)
                if outer.mode == "drip":
                    self._drip()
                    return
                if outer.mode == "404":  # a revoked webhook (Slack: 404 no_service)
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if outer.mode == "429":  # rate limited (Slack's answer to a burst)
                    self.send_response(429)
                    self.send_header("Retry-After", "30")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if outer.mode != "ok":
                    self.send_response(500)
                    self.end_headers()
                    return
                outer.bodies.append({"path": self.path, **json.loads(data)})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def _drip(self) -> None:
                self.close_connection = True
                try:
                    for i in range(len(outer.DRIP)):
                        self.wfile.write(outer.DRIP[i : i + 1])
                        self.wfile.flush()
                        if outer.release.wait(outer.DRIP_S):
                            return
                except OSError:  # the client closed the connection: it gave up on this try
                    with outer.changed:
                        outer.hung_up += 1
                        outer.changed.notify_all()

            def log_message(self, *_a: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(  # stop() waits up to one poll interval (0.5 s by default)
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def fail(self) -> bool:
        return self.mode == "500"

    @fail.setter
    def fail(self, value: bool) -> None:
        self.mode = "500" if value else "ok"

    def url(self, kind: str = "hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{kind}/{self.secret}"

    def events(self, kind: str | None = None) -> list[tuple[str, str]]:
        """(event, what) of each body (of ``kind``'s URL only, when given): a JSON body's
        ``target|check|object``, a Slack body's text."""
        out = []
        for b in self.bodies:
            if kind is not None and not b["path"].startswith(f"/{kind}/"):
                continue
            if kind in (None, "json"):
                out.append((b["event"], f"{b['target']}|{b['check']}|{b['object']}"))
            else:
                out.append(("resolved" if "RESOLVED" in b["text"] else "problem", b["text"]))
        return out

    def wait_hung_up(self, tries: int) -> int:
        """``hung_up`` once it reaches ``tries`` (a client's close is seen at the next byte),
        or as it is when the drip of every try would have ended."""
        with self.changed:
            self.changed.wait_for(lambda: self.hung_up >= tries, len(self.DRIP) * self.DRIP_S)
            return self.hung_up

    def wait_attempts(self, tries: int, timeout: float = 30) -> int:
        """``attempts`` once it reaches ``tries`` (or as it is after ``timeout`` seconds)."""
        with self.changed:
            self.changed.wait_for(lambda: self.attempts >= tries, timeout)
            return self.attempts

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A :class:`Receiver` at ``http://127.0.0.1:PORT/KIND/`` + :data:`HOOK_SECRET`."""
    r = Receiver(HOOK_SECRET)
    try:
        yield r
    finally:
        r.stop()
