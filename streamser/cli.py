"""The ``streamser`` command line."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from . import __version__

if TYPE_CHECKING:     # the graph, executors and plugins load when a command needs them
    from .executors import Control
    from .graph import Graph

EXIT_FAILED, EXIT_INVALID = 1, 2
EXECUTORS = ("inline", "threads", "processes")


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _load(config: str, sets: tuple[str, ...] = (), input: str | None = None,
          events: str | None = None, realtime: bool = False) -> Graph:
    from .graph import GraphError, load_graph
    try:
        return load_graph(config, sets=sets, input=input, events=events, realtime=realtime)
    except GraphError as exc:
        for line in exc.lines():
            click.echo(f"error: {line}", err=True)
        sys.exit(EXIT_INVALID)


def _install_signals(control: Control) -> None:
    """SIGINT/SIGTERM: first stops gracefully (drain and flush), a second aborts."""
    def handler(signum: int, _frame: Any) -> None:
        control.request_stop()
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _finish(metrics: dict[str, dict[str, Any]], metrics_file: str | None, quiet: bool) -> None:
    if metrics_file:
        Path(metrics_file).write_text(json.dumps(metrics, indent=1) + "\n")
    if not quiet:
        from rich.console import Console

        from .metrics import render_table
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


def _run(graph: Graph, executor: str, transport: str, names: list[str] | None,
         metrics_file: str | None, quiet: bool) -> None:
    from .executors import Control, NodeFailed, run
    control = Control()
    _install_signals(control)
    done = threading.Event()
    if not quiet and sys.stderr.isatty() and (executor != "processes" or names):
        threading.Thread(target=_show_progress, args=(control, done), daemon=True).start()
    try:
        if names is None:
            metrics = run(graph, executor, control, transport)
        else:
            from .executors.sockets import run_partition
            metrics = run_partition(graph, names, control)
    except (NodeFailed, OSError) as exc:
        fail(str(exc))
    finally:
        done.set()
    _finish(metrics, metrics_file, quiet)


_set = click.option("--set", "sets", multiple=True, metavar="NODE.PARAM=VALUE",
                    help="Override a node param (value parsed as YAML). Repeatable.")
_metrics = click.option("--metrics", "metrics_file", type=click.Path(dir_okay=False),
                        help="Write per-node metrics as JSON to this file.")
_quiet = click.option("--quiet", "-q", is_flag=True, help="Do not print the metrics table.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="streamser")
@click.option("--verbose", "-v", is_flag=True, help="Also show third-party libraries' log "
              "lines and warnings (hidden by default).")
def main(verbose: bool) -> None:
    """streamser: real-time streaming audio graphs over ZeroMQ."""
    from .quiet import set_verbose
    set_verbose(verbose)


@main.command("run")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--executor", "-x", type=click.Choice(EXECUTORS), default="inline",
              show_default=True, help="inline: one thread; threads: a thread per node over "
              "inproc; processes: a process per node over ipc/tcp.")
@click.option("--transport", type=click.Choice(["ipc", "tcp"]), default="ipc",
              show_default=True, help="Links between processes (processes executor).")
@_set
@click.option("--input", "input_", metavar="FILE|synth:NAME",
              help="Replace the graph's one source with this file or synth signal.")
@click.option("--events", type=click.Path(dir_okay=False),
              help="Path for the graph's sink.events node.")
@click.option("--realtime", is_flag=True, help="Pace the source in real time (sets its "
              "realtime param).")
@_metrics
@_quiet
def run_cmd(config: str, executor: str, transport: str, sets: tuple[str, ...],
            input_: str | None, events: str | None, realtime: bool, metrics_file: str | None,
            quiet: bool) -> None:
    """Validate CONFIG, then run it until its sources end or Ctrl-C / SIGTERM."""
    graph = _load(config, sets, input_, events, realtime)
    _run(graph, executor, transport, None, metrics_file, quiet)


@main.command("node")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--only", required=True, metavar="NAMES",
              help="Comma-separated node names to run here; links to the other nodes go "
              "over their tcp endpoints.")
@_set
@_metrics
@_quiet
@click.option("--parent", type=int, hidden=True, help="Exit when this process dies.")
def node_cmd(config: str, only: str, sets: tuple[str, ...], metrics_file: str | None,
             quiet: bool, parent: int | None) -> None:
    """Run part of a graph (NAMES) in this process, connected to the rest over tcp/ipc."""
    graph = _load(config, sets)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in graph.nodes]
    if unknown or not names:
        fail(f"--only: no node named {', '.join(unknown) or '(empty)'} in {config} "
             f"(nodes: {', '.join(graph.nodes)})", EXIT_INVALID)
    if parent:
        _die_with_parent(parent)
    _run(graph, "threads", "ipc", names, metrics_file, quiet)


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            threading.Event().wait(0.2)
    threading.Thread(target=watch, daemon=True).start()


@main.command("validate")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@_set
def validate_cmd(config: str, sets: tuple[str, ...]) -> None:
    """Check CONFIG without running it (exit 2 with one line per problem)."""
    graph = _load(config, sets)
    click.echo(f"ok: {config}: graph '{graph.name}', {len(graph.nodes)} nodes, "
               f"{sum(len(s.inputs) for s in graph.nodes.values())} links")
    for name, spec in graph.nodes.items():      # what a node will load (infer: which build)
        plan = getattr(spec.cls, "plan", None)
        if plan is not None:
            click.echo(f"  {name}: {plan(spec.params)}")


@main.command("plugins")
def plugins_cmd() -> None:
    """List every plugin, one line each."""
    from .node import describe
    from .registry import PluginError, available, load
    entries = available()
    width = max((len(n) for n in entries), default=10)
    for name, entry in entries.items():
        try:
            cls = load(name)
        except PluginError as exc:
            click.echo(f"{name:<{width}}  (unavailable: {exc})")
            continue
        ports = f"{'/'.join(cls.inputs) or '-'} -> {'/'.join(cls.outputs) or '-'}"
        click.echo(f"{name:<{width}}  {ports:<18}  {describe(cls)}")


@main.command("inspect")
@click.argument("plugin")
def inspect_cmd(plugin: str) -> None:
    """Show a plugin's description, port kinds and params with defaults and ranges."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from .node import describe, param_table
    from .registry import PluginError, load
    try:
        cls = load(plugin)
    except PluginError as exc:
        fail(str(exc), EXIT_INVALID)
    console = Console()
    console.print(f"[bold]{escape(plugin)}[/bold]: {escape(describe(cls))}")
    console.print(f"  class:   {cls.__module__}:{cls.__qualname__}")
    console.print(f"  inputs:  {', '.join(cls.inputs) or '(none: a source)'}")
    console.print(f"  outputs: {', '.join(cls.outputs) or '(none: a sink)'}")
    table = Table(title="params", title_justify="left")
    for col in ("name", "type", "default", "range", "description"):
        table.add_column(col)
    for row in param_table(cls):
        default = row["default"] if row["default"] == "(required)" else repr(row["default"])
        table.add_row(*(escape(str(v)) for v in (row["name"], row["type"], default,
                                                   row["range"], row["doc"])))
    console.print(table)


@main.command("graph")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False),
              help="Output picture: .png/.svg/.pdf (matplotlib) or .dot (Graphviz).")
@_set
def graph_cmd(config: str, out: str, sets: tuple[str, ...]) -> None:
    """Draw CONFIG as a picture."""
    from .drawing import draw
    graph = _load(config, sets)
    try:
        draw(graph, out)
    except (RuntimeError, ValueError, OSError) as exc:
        fail(str(exc))
    click.echo(f"wrote {out}")


@main.command("keys")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", default="streamser", show_default=True, help="Base name of the files.")
def keys_cmd(directory: str, name: str) -> None:
    """Make a CurveZMQ key pair (NAME.key, NAME.key_secret) for encrypted tcp links.

    Copy the .key_secret file to every host of the deployment and set
    `curve: PATH/NAME.key_secret` at the top of the graph YAML.
    """
    from .security import make_keys
    public, secret = make_keys(directory, name)
    click.echo(f"wrote {public} and {secret} (keep the secret file private)")


@main.command("devices")
def devices_cmd() -> None:
    """List audio input devices (index, name, input channels, default rate)."""
    from .devices import AudioUnavailable, input_devices
    try:
        devices = input_devices()
    except AudioUnavailable as exc:
        fail(str(exc))
    if not devices:
        click.echo("no audio input devices found")
    for d in devices:
        click.echo(f"{d.index:>3}  {d.name}  ({d.channels} ch, {d.default_rate:g} Hz)")


@main.command("monitor")
@click.argument("endpoint")
@click.option("--topic", "topics", multiple=True, help="Topic (publishing node name) to "
              "show; every topic when none. Repeatable.")
@click.option("--seconds", type=click.FloatRange(min=0), help="Exit after this long.")
@click.option("--once", is_flag=True, help="Print one snapshot after --seconds (default 1) "
              "instead of updating in place.")
@click.option("--curve", type=click.Path(exists=True, dir_okay=False),
              help="CurveZMQ secret key file of the publisher.")
def monitor_cmd(endpoint: str, topics: tuple[str, ...], seconds: float | None, once: bool,
                curve: str | None) -> None:
    """Show a running graph's level, VAD, scores and events from its sink.zmq ENDPOINT."""
    from pydantic import ValidationError

    from .monitor import monitor
    try:
        monitor(endpoint, list(topics), seconds, once, curve)
    except ValidationError as exc:
        from .messages import validation_message
        message = validation_message(exc.errors()[0])
        fail(f"{endpoint}: {message}", EXIT_INVALID)
    except RuntimeError as exc:
        fail(str(exc))


def _add_train_commands() -> None:
    from .evalcommands import bench_cmd, mkstream_cmd, plot_events_cmd, score_events_cmd
    from .export.commands import export_cmd
    from .train.commands import eval_cmd, models_cmd, train_cmd
    for command in (train_cmd, eval_cmd, models_cmd, export_cmd, mkstream_cmd,
                    score_events_cmd, bench_cmd, plot_events_cmd):
        main.add_command(command)


_add_train_commands()
