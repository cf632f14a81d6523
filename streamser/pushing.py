"""How pushed audio reaches a graph and its events come back (``streamser.api``): each
stream's samples cut into the source's blocks, the channel between a pipeline and its
nodes, the two nodes the pipeline puts into the graph (the source of pushed audio and the
tap that hands events back), and the engines that run the graph inline or on threads.

The nodes reach their pipeline through a channel id registered in this process, so they
run in the inline and threads executors only; they are not plugins to name in a graph
file (``streamser plugins`` does not list them).
"""
from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from pydantic import Field

from .executors.common import Control, NodeFailed, next_frame
from .frames import Frame
from .graph import Graph
from .jsonlines import strict_dumps
from .node import Node, Params, Source

Event = dict[str, Any]
OnEvent = Callable[[Event], None]
#: Node names the API adds to a graph.
TAP, PUSHED = "_api_events", "_api_source"
_CHANNELS: dict[str, Any] = {}


def register(channel: Any) -> None:
    """Make ``channel`` (a :class:`Channel`) reachable by its ``id``."""
    _CHANNELS[channel.id] = channel


def unregister(channel_id: str) -> None:
    _CHANNELS.pop(channel_id, None)


def _channel(channel_id: str) -> Any:
    try:
        return _CHANNELS[channel_id]
    except KeyError:
        raise RuntimeError("this node belongs to a streamser.open() pipeline of this "
                           "process, and that pipeline is gone") from None


class PushParams(Params):
    channel: str = Field(description="The pipeline's channel id.")
    sample_rate: int | None = Field(None, ge=1000, le=768000, description="Rate of the "
                                    "pushed audio (None: not known yet).")


class PushSource(Source):
    """Audio pushed from Python (``streamser.open(...).push``)."""

    Params = PushParams
    outputs = ("audio",)
    params: PushParams

    @classmethod
    def audio_rate(cls, params: Params, rate: int | None) -> int | None:
        assert isinstance(params, PushParams)
        return params.sample_rate

    def frames(self) -> Iterator[Frame]:
        """The frames pushed, until the pipeline closes (threads executor)."""
        frames = _channel(self.params.channel).frames
        while (frame := frames.get()) is not None:
            yield frame

    def close(self) -> None:
        """A stop request: end :meth:`frames` (a full queue already ends it soon)."""
        try:
            _channel(self.params.channel).frames.put_nowait(None)
        except Exception:  # noqa: BLE001 - full (frames still flow) or gone: nothing to do
            pass


class TapParams(Params):
    channel: str = Field(description="The pipeline's channel id.")


class EventTap(Node):
    """Hand each event to the pipeline, as ``sink.events`` would write it."""

    Params = TapParams
    inputs = ("event",)
    params: TapParams

    def start(self) -> None:
        self._channel = _channel(self.params.channel)

    def process(self, frame: Frame) -> tuple[()]:
        self._channel.event(json.loads(strict_dumps(frame.meta)))
        return ()


class Blocks:
    """One stream's pushed samples, cut into the source's blocks with their stream times."""

    def __init__(self, stream: str, block: int, rate: int) -> None:
        self.stream, self.block, self.rate = stream, block, rate
        self.meta = {"sample_rate": rate}
        self.pending = np.zeros(0, np.float32)
        self.pos = self.seq = 0

    def add(self, x: Any) -> list[Frame]:
        """The whole blocks ``x`` completes; the rest waits for more."""
        self.pending = np.concatenate((self.pending, x)) if len(self.pending) else x
        n = len(self.pending) - len(self.pending) % self.block
        frames = [self._frame(self.pending[i:i + self.block]) for i in range(0, n, self.block)]
        self.pending = self.pending[n:]
        return frames

    def rest(self) -> Frame | None:
        if not len(self.pending):
            return None
        last, self.pending = self.pending, self.pending[:0]
        return self._frame(last)

    def _frame(self, data: Any) -> Frame:
        frame = Frame("audio", np.array(data, np.float32), t=self.pos / self.rate,
                      seq=self.seq, stream=self.stream, meta=self.meta)
        self.pos, self.seq = self.pos + len(data), self.seq + 1
        return frame


class Channel:
    """Between a pipeline and its nodes: pushed frames in, events out."""

    def __init__(self, on_event: OnEvent | None) -> None:
        self.id = uuid.uuid4().hex
        self.frames: queue.Queue[Frame | None] = queue.Queue(maxsize=64)
        self._events: list[Event] = []
        self._cond = threading.Condition()
        self._on_event = on_event
        register(self)

    def event(self, event: Event) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()
        if self._on_event is not None:
            self._on_event(event)

    def take(self) -> list[Event]:
        with self._cond:
            out, self._events = self._events, []
        return out

    def wait(self, seconds: float) -> None:
        with self._cond:
            if not self._events:
                self._cond.wait(seconds)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def forget(self) -> None:
        unregister(self.id)


class InlineEngine:
    """Pushed frames through the graph in the caller's thread."""

    def __init__(self, graph: Graph, channel: Channel) -> None:
        from .executors.inline import InlineGraph
        self.run = InlineGraph(graph)
        try:
            self.run.start()
        except BaseException:
            self.run.stop()
            raise

    def feed(self, frame: Frame) -> None:
        frame = next_frame(self.run.metrics[PUSHED], iter((frame,)), PUSHED) or frame
        self.run.feed(PUSHED, frame)

    def finish(self) -> None:
        self.run.end([PUSHED])

    def stop(self) -> None:
        self.run.stop()


class ThreadedEngine:
    """The graph on the threads executor in the background, pushed frames through a
    bounded queue (a push waits while the graph is that far behind)."""

    def __init__(self, graph: Graph, channel: Channel) -> None:
        from .executors.sockets import run_partition
        self.channel, self.control = channel, Control()
        self.error: BaseException | None = None

        def work() -> None:
            try:
                run_partition(graph, graph.nodes, self.control)
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=work, name="streamser-pipeline", daemon=True)
        self.thread.start()

    def feed(self, frame: Frame | None) -> None:
        while True:
            self._raise()
            try:
                self.channel.frames.put(frame, timeout=0.1)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        self.feed(None)                             # the end of the pushed stream
        self.thread.join()
        self._raise(running=False)

    def stop(self) -> None:
        if self.thread.is_alive():
            self.control.request_stop()
            self.control.abort.set()
            self.thread.join()

    def _raise(self, running: bool = True) -> None:
        """The graph's error, if it failed (or, while it should be ``running``, its end)."""
        if self.error is not None:
            raise self.error if isinstance(self.error, NodeFailed) else \
                NodeFailed(PUSHED, self.error)
        if running and not self.thread.is_alive():
            raise NodeFailed(PUSHED, "the graph stopped")
