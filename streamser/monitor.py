"""``streamser monitor``: a live terminal view of what a running graph publishes (sink.zmq);
``streamser listen``: its events as JSON lines.

Per stream: the audio level, the VAD state (audio meta ``vad``/``active``, or vad frames),
the latest class scores (scores frames with meta ``labels``); below, the recent events.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .frames import KINDS, Frame
from .jsonlines import strict_dumps
from .plugins.sources.zmqsub import ZmqSource, ZmqSubParams

REFRESH_S = 0.25
RECENT_EVENTS = 8
FLOOR_DB = -90.0


@dataclass
class StreamView:
    t: float = 0.0
    level_db: float | None = None
    vad: bool | None = None
    scores: dict[str, float] = field(default_factory=dict)


def level_db(x: np.ndarray) -> float:
    """RMS level in dBFS (floored at -90)."""
    rms = math.sqrt(float(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    return max(FLOOR_DB, 20 * math.log10(rms)) if rms > 0 else FLOOR_DB


class MonitorState:
    """What the view shows, updated from the receiving thread, rendered from the main one."""

    def __init__(self) -> None:
        self.streams: dict[str, StreamView] = {}
        self.events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self.frames = 0
        self._lock = threading.Lock()

    def update(self, frame: Frame) -> None:
        with self._lock:
            self.frames += 1
            view = self.streams.setdefault(frame.stream, StreamView())
            view.t = max(view.t, frame.t)
            if frame.kind == "audio":
                view.level_db = level_db(frame.data)
                if "active" in frame.meta:  # vad.* in annotate mode
                    view.vad = bool(frame.meta["active"])
                elif "vad" in frame.meta:  # the active fraction of the frame
                    view.vad = float(frame.meta["vad"]) >= 0.5
            elif frame.kind == "vad" and frame.data.size:
                view.vad = bool(frame.data.reshape(-1)[-1] >= 0.5)
            elif frame.kind == "scores":
                labels = frame.meta.get("labels") or [str(i) for i in range(frame.data.size)]
                view.scores = dict(zip(map(str, labels), map(float, frame.data.reshape(-1))))
            elif frame.kind == "event":
                self.events.append(frame.meta)

    def render(self, endpoint: str, rejected: int) -> Group:
        with self._lock:
            header = Text(f"streamser monitor {endpoint}: {self.frames} frames, "
                          f"{rejected} rejected", style="bold")
            table = Table()
            for col in ("stream", "t (s)", "level (dBFS)", "VAD", "scores"):
                table.add_column(col)
            for name, v in self.streams.items():
                top = sorted(v.scores.items(), key=lambda kv: -kv[1])[:4]
                table.add_row(
                    name, f"{v.t:.2f}", _level(v.level_db),
                    {None: "-", True: "[green]active", False: "quiet"}[v.vad],
                    "  ".join(f"{k} {s:.2f}" for k, s in top) or "-")
            events = Table(title="recent events", title_justify="left")
            for col in ("event", "stream", "t", "emitted_at", "details"):
                events.add_column(col)
            for e in reversed(self.events):
                rest = {k: v for k, v in e.items() if k not in ("event", "stream", "t",
                                                                "emitted_at")}
                events.add_row(str(e.get("event")), str(e.get("stream")), _num(e.get("t")),
                               _num(e.get("emitted_at")), strict_dumps(rest) if rest else "")
            return Group(header, table, events)


def _level(db: float | None, width: int = 10) -> str:
    """The level as a number and a bar from -90 to 0 dBFS."""
    if db is None:
        return "-"
    filled = round(width * (db - FLOOR_DB) / -FLOOR_DB)
    return f"{db:6.1f} [green]{'█' * filled}[/green]{'·' * (width - filled)}"


def _num(x: Any) -> str:
    return f"{x:.2f}" if isinstance(x, (int, float)) else "-"


def monitor(endpoint: str, topics: list[str], seconds: float | None = None,
            once: bool = False, curve: str | None = None,
            console: Console | None = None) -> int:
    """Show the view until Ctrl-C or ``seconds``; ``once`` prints one snapshot at the end.
    The number of frames that arrived."""
    console = console or Console()
    source = ZmqSource(ZmqSubParams(endpoint=endpoint, topics=topics, kinds=list(KINDS),
                                    curve=curve), "monitor")
    source.start()
    state = MonitorState()

    def receive() -> None:
        for frame in source.frames():
            state.update(frame)

    reader = threading.Thread(target=receive, name="streamser-monitor", daemon=True)
    reader.start()
    deadline = time.monotonic() + (seconds if seconds is not None else 1.0 if once else
                                   math.inf)
    try:
        if once:
            time.sleep(max(0.0, deadline - time.monotonic()))
        else:
            with Live(state.render(endpoint, 0), console=console, auto_refresh=False) as live:
                while time.monotonic() < deadline:
                    time.sleep(min(REFRESH_S, max(0.0, deadline - time.monotonic())))
                    live.update(state.render(endpoint, source.rejected), refresh=True)
    except KeyboardInterrupt:
        pass
    finally:
        source.close()
        reader.join(1.0)
        source.stop()
    if once and state.frames:
        console.print(state.render(endpoint, source.rejected))
    return state.frames


def listen(endpoint: str, topics: list[str], seconds: float | None = None,
           curve: str | None = None, write: Callable[[str], None] = print) -> int:
    """Write each event a ``sink.zmq`` publishes as a JSON line until the publisher ends
    its stream, Ctrl-C, or ``seconds``; the number of events written."""
    source = ZmqSource(ZmqSubParams(endpoint=endpoint, topics=topics, kinds=["event"],
                                    until_eos=True, curve=curve), "listen")
    source.start()
    timer = threading.Timer(seconds, source.close) if seconds is not None else None
    if timer is not None:
        timer.start()
    count = 0
    try:
        for frame in source.frames():
            write(strict_dumps(frame.meta))
            count += 1
    except KeyboardInterrupt:
        pass
    finally:
        if timer is not None:
            timer.cancel()
        source.stop()
    return count
