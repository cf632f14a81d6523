"""``streamser run`` and ``streamser node``: run a graph, or part of it, here."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .errors import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_SOURCE_ERROR,
    fail,
    graph_or_exit,
    load_or_exit,
)
from .options import (
    EXECUTORS,
    input_format_option,
    input_option,
    metrics_option,
    quiet_option,
    set_option,
)

if TYPE_CHECKING:     # the graph, executors and plugins load when a command needs them
    from ..executors import Control
    from ..graph import Graph


def _exit_now(code: int) -> NoReturn:
    """End a finished run without the interpreter's teardown (a final garbage collection
    of every loaded model and library takes seconds on a busy machine, longer than a stop
    may take). Nodes have been stopped and their files closed by now."""
    import logging
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _install_signals() -> Control:
    """SIGINT/SIGTERM: first stops gracefully (drain and flush), a second aborts. Installed
    first thing, so that a stop while the graph loads (imports, models) exits 0 at once
    (``__main__`` covers the imports before this)."""
    from ..executors.common import Control
    control = Control()

    def handler(signum: int, _frame: Any) -> None:
        if not control.started:  # still loading: nothing to drain or flush
            _exit_now(0)
        control.request_stop()
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return control


def _finish(metrics: dict[str, dict[str, Any]], metrics_file: str | None, quiet: bool) -> None:
    if metrics_file:
        Path(metrics_file).write_text(json.dumps(metrics, indent=1) + "\n")
    if not quiet:
        from rich.console import Console

        from ..metrics import render_table
        Console(stderr=True).print(render_table(metrics))


def _show_progress(control: Control, done: threading.Event) -> None:
    """A progress bar of stream time per source (terminal only; endless sources count up)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed:.1f}/{task.fields[of]} s audio"), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        tasks: dict[str, Any] = {}
        while not done.wait(0.2):
            for name, pos in list(control.position.items()):
                if name not in tasks:
                    total = control.total.get(name)
                    tasks[name] = bar.add_task(name, total=total,
                                               of=f"{total:.1f}" if total else "∞")
                bar.update(tasks[name], completed=pos)


def _run(control: Control, graph: Graph, executor: str, transport: str,
         names: list[str] | None, metrics_file: str | None, quiet: bool,
         child: bool = False) -> NoReturn:
    """Run and exit. A child of the processes executor (``child``) leaves its error in
    METRICS.error for the parent, which reports it as the run's one line."""
    from ..executors import NodeFailed, run
    from ..executors.common import SourceError
    from ..systemd import Watchdog
    control.started = True
    done = threading.Event()
    if not quiet and sys.stderr.isatty() and (executor != "processes" or names):
        threading.Thread(target=_show_progress, args=(control, done), daemon=True).start()
    watchdog = Watchdog(control, child=child)  # under systemd: READY=1, WATCHDOG=1
    watchdog.start()
    try:
        if names is None:
            metrics = run(graph, executor, control, transport)
        else:
            from ..executors.sockets import run_partition
            metrics = run_partition(graph, names, control)
    except (NodeFailed, OSError) as exc:
        if not child and _reader_gone(exc):   # (a child reports it to its parent)
            _exit_now(0)
        if child and metrics_file:
            text = exc.text if isinstance(exc, NodeFailed) else str(exc)
            Path(metrics_file + ".error").write_text(text)
        else:
            message = graph.blame(exc.node, exc.text) if isinstance(exc, NodeFailed) \
                else str(exc)
            click.echo(f"error: {message}", err=True)
        _exit_now(EXIT_SOURCE_ERROR if child and isinstance(exc, SourceError)
                  else EXIT_FAILED)
    finally:
        done.set()
        watchdog.stop()
    _finish(metrics, metrics_file, quiet)
    _exit_now(0)


def _reader_gone(exc: BaseException) -> bool:
    """The reader of standard output went away (``streamser run ... --events - | head``):
    like a Unix filter, stop without an error (see ``OutputClosed``)."""
    from ..executors import NodeFailed
    return isinstance(exc, NodeFailed) and exc.text.startswith("OutputClosed:")


def run_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options of ``run`` (and ``launch``): executor, transport, overrides, input,
    events, realtime, metrics, quiet."""
    for option in reversed((
            click.option("--executor", "-x", type=click.Choice(EXECUTORS), default="inline",
                         show_default=True, help="inline: one thread; threads: a thread per "
                         "node over inproc; processes: a process per node over ipc/tcp."),
            click.option("--transport", type=click.Choice(["ipc", "tcp"]), default="ipc",
                         show_default=True, help="Links between processes (processes "
                         "executor)."),
            set_option, input_option, input_format_option,
            click.option("--events", type=click.Path(dir_okay=False),
                         help="Path for the graph's sink.events node ('-': standard "
                         "output)."),
            click.option("--realtime", is_flag=True, help="Pace the source in real time "
                         "(sets its realtime param)."),
            metrics_option,
            click.option("--quiet", "-q", is_flag=True, help="No metrics table, no "
                         "progress bar; with the events on standard output (--events -), "
                         "no sink.console either (each event printed once)."))):
        fn = option(fn)
    return fn


def start_run(load: Callable[..., Graph], executor: str, transport: str,
              sets: tuple[str, ...], input_: str | None, input_format: str | None,
              events: str | None, realtime: bool, metrics_file: str | None,
              quiet: bool) -> NoReturn:
    """Validate the graph ``load(**overrides)`` gives (``load_graph`` or ``build_graph``
    with its data bound), then run it and exit."""
    control = _install_signals()
    graph = graph_or_exit(lambda: load(sets=sets, input=input_, events=events,
                                       realtime=realtime, input_format=input_format,
                                       quiet=quiet))
    _run(control, graph, executor, transport, None, metrics_file, quiet)


@click.command("run")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@run_options
def run_cmd(config: str, **options: Any) -> None:
    """Validate CONFIG, then run it until its sources end or Ctrl-C / SIGTERM."""
    from ..graph import load_graph
    start_run(partial(load_graph, config), **options)


@click.command("launch")
@click.argument("line", nargs=-1, required=True)
@click.option("--print-yaml", is_flag=True, help="Print the line as a graph file (after "
              "validating it) instead of running it.")
@run_options
def launch_cmd(line: tuple[str, ...], print_yaml: bool, **options: Any) -> None:
    """Run a one-line pipeline, gst-launch style: 'PLUGIN k=v ! PLUGIN k=v ! ...'.

    name=x names a node; 'x.' refers to it (at a chain's start: branch from x; after
    '!': link into x). Errors give the column: <launch>:1:COL.
    """
    import shlex

    from ..graph import build_graph
    from ..launch import FILE, parse, to_yaml
    text = line[0] if len(line) == 1 else " ".join(shlex.quote(w) for w in line)

    def load(**overrides: Any) -> Graph:
        raw, columns = parse(text)
        return build_graph(raw, columns, FILE, **overrides)
    if print_yaml:
        graph_or_exit(lambda: load(missing_packages="warn"))
        click.echo(to_yaml(parse(text)[0]), nl=False)
        return
    start_run(load, **options)


@click.command("node")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--only", required=True, metavar="NAMES",
              help="Comma-separated node names to run here; links to the other nodes go "
              "over their tcp endpoints.")
@set_option
@metrics_option
@quiet_option
@click.option("--parent", type=int, hidden=True, help="Exit when this process dies.")
def node_cmd(config: str, only: str, sets: tuple[str, ...], metrics_file: str | None,
             quiet: bool, parent: int | None) -> None:
    """Run part of a graph (NAMES) in this process, connected to the rest over tcp/ipc."""
    if parent:
        _die_with_parent(parent)
    control = _install_signals()
    graph = load_or_exit(config, sets)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in graph.nodes]
    if unknown or not names:
        fail(f"--only: no node named {', '.join(unknown) or '(empty)'} in {config} "
             f"(nodes: {', '.join(graph.nodes)})", EXIT_INVALID)
    _run(control, graph, "threads", "ipc", names, metrics_file, quiet, child=bool(parent))


def _die_with_parent(parent: int) -> None:
    """A child of the processes executor stops when its parent dies, however it dies
    (PR_SET_PDEATHSIG is also set first thing in ``__main__``); if the drain takes too
    long, it exits."""
    from ..executors.common import DRAIN_SECONDS

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(0.2)
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(DRAIN_SECONDS + 1.0)
        os._exit(0)
    threading.Thread(target=watch, daemon=True).start()
