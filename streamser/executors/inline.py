"""The inline executor: one thread, direct calls, depth-first (MCU-like boards, tests)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..frames import Frame
from ..graph import Graph
from ..metrics import NodeMetrics
from ..node import Node, Source
from .common import Control, NodeFailed, Pacer, call, is_paced, next_frame


def run_inline(graph: Graph, control: Control) -> dict[str, dict[str, Any]]:
    """Run the graph to completion (or until stopped) and return per-node metrics."""
    nodes: dict[str, Node] = {}
    metrics = {name: NodeMetrics() for name in graph.nodes}
    waiting = {name: len(spec.inputs) for name, spec in graph.nodes.items()}
    current = ""

    def emit(name: str, frames: Any) -> None:
        nonlocal current
        metrics[name].frames_out += len(frames)
        for frame in frames:
            for consumer in graph.consumers[name]:
                m = metrics[consumer]
                m.frames_in += 1
                current = consumer
                emit(consumer, call(m, nodes[consumer].process, frame))

    def finish(name: str) -> None:
        nonlocal current
        for consumer in graph.consumers[name]:
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                current = consumer
                emit(consumer, call(metrics[consumer], nodes[consumer].flush))
                finish(consumer)

    try:
        for name, spec in graph.nodes.items():
            current = name
            nodes[name] = spec.build()
            nodes[name].start()
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
                frame = next_frame(metrics[name], iters[name])
                if frame is None:
                    del iters[name]
                    finish(name)
                    continue
                control.produced(name, frame)
                if name in pacers:
                    pacers[name].wait(frame, control.stop)
                emit(name, [frame])
        for name in iters:  # stopped: end the remaining sources, flushing downstream
            finish(name)
    except Exception as exc:
        raise NodeFailed(current, exc) from exc
    finally:
        for name, node in nodes.items():
            try:
                node.stop()
            except Exception:  # a failing stop must not hide the original error
                pass
    return {name: m.to_dict() for name, m in metrics.items()}
