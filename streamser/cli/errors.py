"""The error helper every command module uses: one line on stderr and an exit code
(no traceback), and graph loading that reports each validation problem that way."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from ..graph import Graph

EXIT_FAILED, EXIT_INVALID = 1, 2
#: A child of the processes executor whose source failed to read, after draining.
EXIT_SOURCE_ERROR = 3


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def load_or_exit(config: str, sets: tuple[str, ...] = (), input: str | None = None,
                 events: str | None = None, realtime: bool = False,
                 **options: Any) -> Graph:
    """The validated graph (``options``: those of ``build_graph``), or every problem on
    its own line and exit 2. Warnings are printed, one line each."""
    from ..graph import load_graph
    return graph_or_exit(lambda: load_graph(config, sets=sets, input=input, events=events,
                                            realtime=realtime, **options))


def graph_or_exit(build: Callable[[], Graph]) -> Graph:
    """``build()``'s graph, its warnings printed; or every problem on its own line and
    exit 2."""
    from ..graph import GraphError
    try:
        graph = build()
    except GraphError as exc:
        for line in exc.lines():
            click.echo(f"error: {line}", err=True)
        for line in exc.warnings:
            click.echo(f"warning: {line}", err=True)
        sys.exit(EXIT_INVALID)
    for line in graph.warnings:
        click.echo(f"warning: {line}", err=True)
    return graph
