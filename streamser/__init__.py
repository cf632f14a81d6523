"""streamser: real-time streaming audio graphs for robots and embedded boards.

``streamser.open(graph, set=...)`` gives a :class:`~streamser.api.Pipeline`: ``push``
audio and get its events, ``close`` for the end of stream, or ``run`` a file. The rest
of the package loads when used (``import streamser`` stays light for the CLI).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .api import Pipeline

__all__ = ["GraphError", "NodeFailed", "Pipeline", "__version__", "open"]


def open(graph: Any, set: Any = None, **options: Any) -> Pipeline:  # noqa: A001, A002
    """See :func:`streamser.api.open`."""
    from .api import open as open_pipeline
    return open_pipeline(graph, set, **options)


def __getattr__(name: str) -> Any:
    if name == "Pipeline":
        from .api import Pipeline
        return Pipeline
    if name == "GraphError":
        from .graph import GraphError
        return GraphError
    if name == "NodeFailed":
        from .executors.common import NodeFailed
        return NodeFailed
    raise AttributeError(f"module 'streamser' has no attribute {name!r}")
