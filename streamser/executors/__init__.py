"""Executors: how a validated graph is run (inline, threads, processes)."""
from __future__ import annotations

from typing import Any

from typing import TYPE_CHECKING

from .common import Control, NodeFailed

if TYPE_CHECKING:
    from ..graph import Graph

EXECUTORS = ("inline", "threads", "processes")

__all__ = ["EXECUTORS", "Control", "NodeFailed", "run"]


def run(graph: Graph, executor: str = "inline", control: Control | None = None,
        transport: str = "ipc") -> dict[str, dict[str, Any]]:
    """Run ``graph`` to the end of its sources (or until ``control`` stops it).

    Returns per-node metrics: frames in/out, drops, rejected messages, mean and p99
    process time. Raises :class:`NodeFailed` when a node raises.
    """
    control = control or Control()
    # each executor's module loads when used (zmq and its sockets only for the others)
    if executor == "inline":
        from .inline import run_inline
        return run_inline(graph, control)
    if executor == "threads":
        from .sockets import run_partition
        return run_partition(graph, graph.nodes, control)
    if executor == "processes":
        from .processes import run_processes
        return run_processes(graph, control, transport)
    raise ValueError(f"unknown executor '{executor}' (choose from {', '.join(EXECUTORS)})")
