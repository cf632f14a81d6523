"""sink.web: one live page of the robot: its state, the cry score, recent events with
their descriptors, the nodes' health, and a button that marks a false alarm.

Input the events (and, for the score chart, the detector's scores: ``input: [describe,
detect]``). Updates reach open pages by server-sent events; every asset is served by the
node (no CDN: a robot may have no internet). The false-alarm button appends the last
``cry_start`` to ``false_alarms``, one JSON object per line::

    {"t": 38.416, "stream": "default", "marked_at": "2026-12-07T18:29:38Z",
     "emitted_at": 38.912, "score": 0.974, "graph": "cry_robot_home", "event": "cry_start"}

(``t``: the stream time of the cry_start the user says was wrong), which ``streamser
adapt --false-alarms @FILE`` reads (docs/adapt.md). HTTP details and access rules:
:mod:`.webserver`.
"""
from __future__ import annotations

import ipaddress
import json
import os
import threading
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from streamser.frames import Frame
from streamser.metrics import LIVE
from streamser.node import Node, Params
from streamser.security import secret_line

from .webserver import Site, serve

HEALTH_EVERY_S = 1.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path: str) -> str:
    """The first line of ``path`` (ValueError: one line saying why)."""
    token = secret_line(path, "token")
    if len(token) < 16:
        raise ValueError(f"token file {path}: its first line must hold a token of at least "
                         "16 characters (make one: head -c 24 /dev/urandom | base64)")
    return token


class WebParams(Params):
    host: str = Field("127.0.0.1", min_length=1, description="Address to bind: this host "
                      "only by default; another address (0.0.0.0: every interface) needs "
                      "token_file.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port of the page.")
    token_file: str | None = Field(None, description="File whose first line is the page's "
                                   "access token (open the page as /?token=TOKEN); required "
                                   "when host is not a loopback address.",
                                   json_schema_extra={"file": "input"})
    false_alarms: str = Field("out/false_alarms.jsonl", description="File the false-alarm "
                              "button appends to (one JSON object per line).")
    history: float = Field(300.0, ge=10, le=86400, description="Seconds of cry score the "
                           "chart shows.")
    events: int = Field(50, ge=1, le=10000, description="Recent events listed.")
    label: str = Field("cry", description="Class whose score is charted.")
    event: str = Field("cry", min_length=1, description="Event prefix: <event>_start and "
                       "<event>_end make the state.")

    @model_validator(mode="after")
    def _token_off_loopback(self) -> WebParams:
        if not is_loopback(self.host) and not self.token_file:
            raise ValueError(f"host {self.host} is not a loopback address: set token_file "
                             "(a file holding an access token) so that only people with it "
                             "can open the page")
        return self


class WebSink(Node):
    """Serve a live page of the robot: state, score, events, health, false-alarm button."""

    Params = WebParams
    inputs = ("event", "scores")
    params: WebParams

    @classmethod
    def requirements(cls, params: Params) -> list[str]:
        assert isinstance(params, WebParams)
        if params.token_file:
            try:
                read_token(params.token_file)
            except ValueError as exc:
                return [str(exc)]
        return []

    def start(self) -> None:
        p = self.params
        self._lock = threading.Lock()
        self._scores: deque[tuple[float, float]] = deque()
        self._events: deque[dict[str, Any]] = deque(maxlen=p.events)
        self._crying: dict[str, float] = {}  # stream -> t of its open cry
        self._cries: deque[dict[str, Any]] = deque()  # the chart's: stream, start, end
        self._starts: deque[dict[str, Any]] = deque(maxlen=100)  # recent cry_starts
        self._now = 0.0
        self._health: dict[str, Any] = {}
        token = read_token(p.token_file) if p.token_file else None
        self._site = Site(p.host, p.port, token, self.snapshot, self.mark)
        try:
            self._server = serve(self._site)
        except OSError as exc:
            raise RuntimeError(f"cannot serve the page on {p.host}:{p.port}: "
                               f"{exc.strerror or exc}") from None
        self._ticker = threading.Thread(target=self._tick, daemon=True, name="streamser:health")
        self._ticker.start()

    # the graph's side -------------------------------------------------------------------
    def process(self, frame: Frame) -> tuple[()]:
        upto = float(frame.meta.get("upto", frame.meta.get("emitted_at", frame.t)))
        with self._lock:
            self._now = max(self._now, upto)
            if frame.kind == "scores":
                self._score(frame, upto)
                return ()
            event = dict(frame.meta)
            name, prefix = event.get("event"), self.params.event
            if name == f"{prefix}_start":
                self._crying[frame.stream] = float(event.get("t", frame.t))
                self._starts.append(event)
                self._cries.append({"stream": frame.stream, "start": event.get("t"),
                                    "end": None})
            elif name == f"{prefix}_end":
                self._crying.pop(frame.stream, None)
                for cry in self._cries:
                    if cry["stream"] == frame.stream and cry["end"] is None:
                        cry["end"] = event.get("t")
            while self._cries and (self._cries[0]["end"] or self._now) < \
                    self._now - self.params.history:
                self._cries.popleft()
            self._events.append(event)
            state = self._state()
        self._site.clients.send("event", {"event": event, "state": state})
        return ()

    def _score(self, frame: Frame, upto: float) -> None:
        labels = frame.meta.get("labels") or []
        column = labels.index(self.params.label) if self.params.label in labels else 0
        point = (round(upto, 3), round(float(frame.data[column]), 4))
        self._scores.append(point)
        while self._scores and self._scores[0][0] < upto - self.params.history:
            self._scores.popleft()
        self._site.clients.send("score", {"t": point[0], "score": point[1], "now": self._now})

    def _state(self) -> dict[str, Any]:
        return {"now": self._now, "crying": dict(self._crying)}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"graph": self.graph_name, "state": self._state(),
                    "scores": list(self._scores), "events": list(self._events),
                    "cries": list(self._cries),
                    "history": self.params.history, "health": self._health,
                    "max_events": self.params.events,
                    "last_start": self._starts[-1] if self._starts else None}

    # the page's side --------------------------------------------------------------------
    def mark(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The false-alarm button: append that cry_start (one the page was shown)."""
        with self._lock:
            start = next((e for e in reversed(self._starts)
                          if e.get("t") == body.get("t") and e.get("stream") == body.get(
                              "stream")), None)
        if start is None:
            return 404, {"error": "no such cry_start among the recent ones"}
        row = {"t": start.get("t"), "stream": start.get("stream"),
               "marked_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "emitted_at": start.get("emitted_at"), "score": start.get("score"),
               "graph": self.graph_name, "event": start.get("event")}
        path = Path(self.params.false_alarms)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        return 200, {"marked": row}

    def _tick(self) -> None:
        """Every second: the nodes' health (counters, CPU share since the last tick)."""
        last: dict[str, int] = {}
        wall = time.monotonic()
        proc = os.times()
        while not self._site.closing.wait(HEALTH_EVERY_S):
            now, times = time.monotonic(), os.times()
            span = max(now - wall, 1e-6)
            nodes = {}
            for name, m in list(LIVE.get(self.graph_name, {}).items()):
                nodes[name] = {"in": m.frames_in, "out": m.frames_out, "dropped": m.dropped,
                               "rejected": m.rejected, "errors": m.errors,
                               "cpu": round(100 * (m.cpu_ns - last.get(name, 0)) / 1e9 /
                                            span, 1)}
                last[name] = m.cpu_ns
            cpu = (times.user + times.system - proc.user - proc.system) / span
            health = {"nodes": nodes, "process_cpu": round(100 * cpu, 1)}
            wall, proc = now, times
            with self._lock:
                self._health = health
            self._site.clients.send("health", health)

    def stop(self) -> None:
        site = getattr(self, "_site", None)
        if site is None:
            return
        site.closing.set()
        site.clients.close()
        self._server.shutdown()
        self._server.server_close()
        self._site = None
