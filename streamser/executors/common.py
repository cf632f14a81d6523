"""What every executor shares: stop control, pacing, timed node calls, errors."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator

from ..frames import Frame
from ..metrics import NodeMetrics
from ..node import Node

#: After a stop request, nodes get this long to drain and flush before being aborted.
DRAIN_SECONDS = 1.2


class NodeFailed(RuntimeError):
    """A node raised; the run stopped. ``str()`` is a one-line message."""

    def __init__(self, node: str, error: BaseException | str) -> None:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        super().__init__(f"node '{node}' failed: {text}")
        self.node, self.text = node, text

    def __reduce__(self) -> tuple:        # crosses process boundaries (multiprocessing)
        return (NodeFailed, (self.node, self.text))


class Control:
    """Stop (sources end, the graph drains and flushes) and abort (drop everything now)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.abort = threading.Event()
        #: Per source: stream seconds produced so far, and the total (None: endless).
        self.position: dict[str, float] = {}
        self.total: dict[str, float | None] = {}
        self._closers: list[Callable[[], None]] = []

    def on_stop(self, close: Callable[[], None]) -> None:
        """Call ``close`` (a source's ``close``) when a stop is requested."""
        self._closers.append(close)
        if self.stop.is_set():
            close()

    def produced(self, source: str, frame: Frame) -> None:
        self.position[source] = frame_end(frame)

    def request_stop(self) -> None:
        """First call stops gracefully; a second call aborts."""
        if self.stop.is_set():
            self.abort.set()
        self.stop.set()
        for close in self._closers:  # unblock sources waiting on a device or a socket
            close()


def frame_end(frame: Frame) -> float:
    """Stream time just after the frame's last sample."""
    rate = frame.meta.get("sample_rate")
    if frame.kind == "audio" and rate:
        return frame.t + frame.data.shape[0] / rate
    return frame.t


class Pacer:
    """Releases a paced source's frames no earlier than their stream end time."""

    def __init__(self) -> None:
        self.t0: float | None = None

    def wait(self, frame: Frame, stop: threading.Event) -> None:
        if self.t0 is None:
            self.t0 = time.monotonic()
        delay = self.t0 + frame_end(frame) - time.monotonic()
        if delay > 0:
            stop.wait(delay)


def call(metrics: NodeMetrics, fn, *args) -> Iterable[Frame]:  # type: ignore[no-untyped-def]
    """Call ``process``/``flush`` and record its duration; returns a list or tuple."""
    t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
    out = fn(*args)
    if not isinstance(out, (list, tuple)):
        out = list(out)
    metrics.timed(time.perf_counter_ns() - t0, time.thread_time_ns() - c0)
    return out


def next_frame(metrics: NodeMetrics, frames: Iterator[Frame]) -> Frame | None:
    """A source's next frame (None at the end), timed like :func:`call`."""
    t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
    frame = next(frames, None)
    if frame is not None:
        metrics.timed(time.perf_counter_ns() - t0, time.thread_time_ns() - c0)
    return frame


def is_live(node: Node) -> bool:
    return bool(getattr(node, "live", False))


def is_paced(node: Node) -> bool:
    return bool(getattr(node, "paced", False))
