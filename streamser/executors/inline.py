"""The inline executor: one thread, direct calls (MCU-like boards, tests, the Python API).

Sources are read round-robin, one frame each; after each source frame (an epoch,
``ordering``) every node, in topological order, processes what arrived for it in that
epoch, input by input in the order of its ``input`` list. The threads and processes
executors hand fan-in nodes their frames in this same order, so every executor gives the
same frames. :class:`InlineGraph` is that loop's body, one source frame at a time: the
Python API (``streamser.open``) feeds it pushed audio.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..frames import Frame
from ..graph import Graph
from ..metrics import LIVE, NodeMetrics
from ..node import Node, Source
from ..streams import expired_count
from .common import (
    Control,
    Guarded,
    NodeFailed,
    Pacer,
    SourceError,
    is_paced,
    next_frame,
    source_failed,
)


class InlineGraph:
    """A graph's nodes built and started in this thread; :meth:`feed` hands one source
    frame through the graph (an epoch), :meth:`end` ends sources (their consumers flush
    once all their inputs have ended), :meth:`stop` stops every node. A node that raises
    raises :class:`NodeFailed`."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.nodes: dict[str, Node] = {}
        self.metrics = {name: NodeMetrics() for name in graph.nodes}
        LIVE[graph.name] = self.metrics
        self._guards: dict[str, Guarded] = {}
        self._inbox: dict[str, dict[str, list[Frame]]] = {name: {} for name in graph.nodes}
        self.ended: set[str] = set()
        self._current = ""

    @contextmanager
    def failing_as(self, name: str) -> Iterator[None]:
        """Report an exception raised in the block as node ``name``'s failure (or the
        failure of the node running inside it)."""
        self._current = name
        try:
            yield
        except NodeFailed:
            raise
        except Exception as exc:
            raise NodeFailed(self._current, exc) from exc

    def start(self) -> None:
        for name, spec in self.graph.nodes.items():
            with self.failing_as(name):
                self.nodes[name] = spec.build()
                self.nodes[name].start()
                self._guards[name] = Guarded(name, self.nodes[name], self.metrics[name],
                                             spec.on_error)

    def feed(self, source: str, frame: Frame) -> None:
        """One frame of ``source`` through the graph."""
        with self.failing_as(source):
            self._emit(source, [frame])
            self._epoch()

    def end(self, sources: Iterable[str]) -> None:
        """``sources`` have ended: what they fed flushes (once all its inputs ended)."""
        with self.failing_as(""):
            self.ended.update(sources)
            self._epoch()

    def stop(self) -> dict[str, dict[str, Any]]:
        """Stop every node (errors in ``stop`` are ignored); the metrics."""
        for name, node in self.nodes.items():
            self.metrics[name].expired = expired_count(node)
            try:
                node.stop()
            except Exception:  # a failing stop must not hide the original error
                pass
        self.nodes = {}
        return {name: m.to_dict() for name, m in self.metrics.items()}

    def _emit(self, name: str, frames: list[Frame]) -> None:
        """Hand ``frames`` to each consumer, only the kinds it takes."""
        self.metrics[name].frames_out += len(frames)
        for consumer in self.graph.consumers[name]:
            takes = self.graph.nodes[consumer].takes
            self._inbox[consumer].setdefault(name, []).extend(
                frames if takes is None else [f for f in frames if f.kind in takes])

    def _epoch(self) -> None:
        """Every node, in topological order, takes this epoch's frames, input by input."""
        for name, spec in self.graph.nodes.items():
            if spec.is_source or name in self.ended:
                continue
            self._current = name
            waiting = self._inbox[name]
            guard = self._guards[name]
            for producer in spec.inputs:
                for frame in waiting.pop(producer, ()):
                    self.metrics[name].frames_in += 1
                    self._emit(name, list(guard.process(frame)))
            if all(p in self.ended for p in spec.inputs):
                self._emit(name, list(guard.flush()))
                self.ended.add(name)


def run_inline(graph: Graph, control: Control) -> dict[str, dict[str, Any]]:
    """Run the graph to completion (or until stopped) and return per-node metrics."""
    run = InlineGraph(graph)
    late: SourceError | None = None
    try:
        run.start()
        iters: dict[str, Iterator[Frame]] = {}
        pacers: dict[str, Pacer] = {}
        for name in graph.sources:
            src = run.nodes[name]
            assert isinstance(src, Source)
            with run.failing_as(name):
                iters[name] = iter(src.frames())
            control.on_stop(src.close)
            control.total[name] = src.length()
            if is_paced(src):
                pacers[name] = Pacer()
        while iters and not control.stop.is_set():
            for name in list(iters):
                try:
                    with run.failing_as(name):
                        frame = next_frame(run.metrics[name], iters[name], name)
                except NodeFailed as exc:  # end the stream here; fail after the drain
                    late = late or source_failed(name, exc.__cause__ or exc)
                    frame = None
                if frame is None:
                    del iters[name]
                    run.end([name])
                    continue
                control.produced(name, frame)
                if name in pacers:
                    pacers[name].wait(frame, control.stop)
                run.feed(name, frame)
        run.end(iters)  # stopped: end the remaining sources, flushing downstream
    finally:
        metrics = run.stop()
    if late is not None:
        raise late
    return metrics
