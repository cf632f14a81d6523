"""The inline executor: one thread, direct calls (MCU-like boards, tests).

Sources are read round-robin, one frame each; after each source frame (an epoch,
``ordering``) every node, in topological order, processes what arrived for it in that
epoch, input by input in the order of its ``input`` list. The threads and processes
executors hand fan-in nodes their frames in this same order, so every executor gives the
same frames.
"""
from __future__ import annotations

from collections.abc import Iterator
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


def run_inline(graph: Graph, control: Control) -> dict[str, dict[str, Any]]:
    """Run the graph to completion (or until stopped) and return per-node metrics."""
    nodes: dict[str, Node] = {}
    metrics = {name: NodeMetrics() for name in graph.nodes}
    LIVE[graph.name] = metrics
    guards: dict[str, Guarded] = {}
    inbox: dict[str, dict[str, list[Frame]]] = {name: {} for name in graph.nodes}
    ended: set[str] = set()
    current = ""
    late: SourceError | None = None

    def emit(name: str, frames: Any) -> None:
        metrics[name].frames_out += len(frames)
        for consumer in graph.consumers[name]:
            takes = graph.nodes[consumer].takes
            inbox[consumer].setdefault(name, []).extend(
                frames if takes is None else [f for f in frames if f.kind in takes])

    def epoch() -> None:
        """Every node, in topological order, takes this epoch's frames, input by input."""
        nonlocal current
        for name, spec in graph.nodes.items():
            if spec.is_source or name in ended:
                continue
            current = name
            waiting = inbox[name]
            for producer in spec.inputs:
                for frame in waiting.pop(producer, ()):
                    metrics[name].frames_in += 1
                    emit(name, list(guards[name].process(frame)))
            if all(p in ended for p in spec.inputs):
                emit(name, list(guards[name].flush()))
                ended.add(name)

    try:
        for name, spec in graph.nodes.items():
            current = name
            nodes[name] = spec.build()
            nodes[name].start()
            guards[name] = Guarded(name, nodes[name], metrics[name], spec.on_error)
        iters: dict[str, Iterator[Frame]] = {}
        pacers: dict[str, Pacer] = {}
        for name in graph.sources:
            src = nodes[name]
            assert isinstance(src, Source)
            iters[name] = iter(src.frames())
            control.on_stop(src.close)
            control.total[name] = src.length()
            if is_paced(src):
                pacers[name] = Pacer()
        while iters and not control.stop.is_set():
            for name in list(iters):
                current = name
                try:
                    frame = next_frame(metrics[name], iters[name], name)
                except Exception as exc:  # end the stream here; fail after the drain
                    late = late or source_failed(name, exc)
                    frame = None
                if frame is None:
                    del iters[name]
                    ended.add(name)
                else:
                    control.produced(name, frame)
                    if name in pacers:
                        pacers[name].wait(frame, control.stop)
                    emit(name, [frame])
                epoch()
        ended.update(iters)  # stopped: end the remaining sources, flushing downstream
        epoch()
    except Exception as exc:
        raise NodeFailed(current, exc) from exc
    finally:
        for name, node in nodes.items():
            metrics[name].expired = expired_count(node)
            try:
                node.stop()
            except Exception:  # a failing stop must not hide the original error
                pass
    if late is not None:
        raise late
    return {name: m.to_dict() for name, m in metrics.items()}
