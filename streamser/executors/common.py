"""What every executor shares: stop control, pacing, timed node calls, errors."""
from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from ..frames import Frame
from ..jsonlines import OutputClosed
from ..metrics import NodeMetrics
from ..node import Node
from ..ports import Port, check

log = logging.getLogger("streamser")

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


class SourceError(NodeFailed):
    """A source failed to read (a truncated file, say): its stream was ended there and
    the graph drained and flushed (open episodes closed) before this is raised."""


class Control:
    """Stop (sources end, the graph drains and flushes) and abort (drop everything now)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.abort = threading.Event()
        #: Per source: stream seconds produced so far, and the total (None: endless).
        self.position: dict[str, float] = {}
        self.total: dict[str, float | None] = {}
        self._closers: list[Callable[[], None]] = []
        #: Set once the graph is loaded and about to run (a signal before exits at once).
        self.started = False

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


class Guarded:
    """One node's ``process``/``flush`` as the executor calls them: the port contract is
    checked first (a frame that breaks it is rejected), calls are timed, and with
    ``on_error: drop`` an exception drops that frame (counted, logged once per cause with
    the stream id) instead of stopping the run. ``on_error`` None: drop for frames that
    came from another process or host, stop for frames from this one."""

    def __init__(self, name: str, node: Node, metrics: NodeMetrics,
                 on_error: str | None = None) -> None:
        self.name, self.node, self.metrics, self.on_error = name, node, metrics, on_error
        self._ports: dict[str, Port | None] = {}
        self._logged: set[tuple[str, ...]] = set()

    def accept(self, frame: Frame) -> bool:
        """Check the frame against the node's port for its kind; count a rejection."""
        kind = frame.kind
        if kind not in self._ports:
            self._ports[kind] = self.node.port(kind)
        why = check(frame, self._ports[kind])
        if why is None:
            return True
        self.metrics.rejected += 1
        self._once(("reject", kind, why.split(" ")[0]),
                   f"node '{self.name}': rejected a {kind} frame of stream "
                   f"'{frame.stream}': {why}")
        return False

    def process(self, frame: Frame, remote: bool = False) -> Iterable[Frame]:
        if not self.accept(frame):
            return ()
        return self._guard(self.node.process, [frame], remote, frame)

    def process_batch(self, fn: Callable[[list[Frame]], Iterable[Frame]],
                      frames: list[Frame], remote: bool = False) -> Iterable[Frame]:
        frames = [f for f in frames if self.accept(f)]
        if not frames:
            return ()
        try:
            return call(self.metrics, fn, frames)
        except Exception as exc:
            if self._policy(remote) == "stop" or isinstance(exc, OutputClosed):
                raise
        # one frame spoilt the batch: find it, one frame at a time (state is per stream)
        return [out for f in frames for out in self._guard(self.node.process, [f], remote, f)]

    def flush(self) -> Iterable[Frame]:
        return self._guard(self.node.flush, [], False, None)

    def _policy(self, remote: bool) -> str:
        return self.on_error or ("drop" if remote else "stop")

    def _guard(self, fn: Callable, args: list, remote: bool,  # type: ignore[type-arg]
               frame: Frame | None) -> Iterable[Frame]:
        try:
            return call(self.metrics, fn, *args)
        except Exception as exc:
            if self._policy(remote) == "stop" or isinstance(exc, OutputClosed):
                raise
            self.metrics.errors += 1
            where = traceback.extract_tb(exc.__traceback__)[-1]
            stream = f" of stream '{frame.stream}'" if frame is not None else ""
            self._once((type(exc).__name__, where.filename, str(where.lineno)),
                       f"node '{self.name}': dropped a frame{stream}: "
                       f"{type(exc).__name__}: {exc} (on_error: drop; logged once per cause)")
            return ()

    def _once(self, cause: tuple[str, ...], message: str) -> None:
        if cause not in self._logged and len(self._logged) < 1000:
            self._logged.add(cause)
            log.warning(message)


def source_failed(name: str, exc: Exception) -> SourceError:
    """Note a source's read error (one line) and make the error raised after the drain."""
    err = SourceError(name, exc)
    log.error(f"{err}; its stream ends here (the graph drains and flushes first)")
    return err


def next_frame(metrics: NodeMetrics, frames: Iterator[Frame], name: str = "source"
               ) -> Frame | None:
    """A source's next frame (None at the end), timed like :func:`call`; non-finite
    samples (NaN, Inf) are replaced by 0 and counted, with one warning per source."""
    t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
    frame = next(frames, None)
    if frame is not None:
        metrics.timed(time.perf_counter_ns() - t0, time.thread_time_ns() - c0)
        data = frame.data
        if data.dtype.kind == "f" and not np.isfinite(data).all():
            bad = int(data.size - np.count_nonzero(np.isfinite(data)))
            if not metrics.replaced:
                log.warning(f"node '{name}': {bad} non-finite samples in the frame at "
                            f"t={frame.t:.3f} of stream '{frame.stream}' replaced by 0 "
                            "(counted as 'replaced'; warned once)")
            metrics.replaced += bad
            frame.data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    return frame


def is_live(node: Node) -> bool:
    return bool(getattr(node, "live", False))


def is_paced(node: Node) -> bool:
    return bool(getattr(node, "paced", False))
