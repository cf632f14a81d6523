"""``streamser plugins`` and ``streamser inspect``: what nodes there are."""
from __future__ import annotations

import click

from .errors import EXIT_INVALID, fail


@click.command("plugins")
def plugins_cmd() -> None:
    """List every plugin, one line each."""
    from ..node import describe
    from ..registry import PluginError, available, load
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


@click.command("inspect")
@click.argument("plugin")
def inspect_cmd(plugin: str) -> None:
    """Show a plugin's description, port kinds and params with defaults and ranges."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ..node import describe, param_table
    from ..registry import PluginError, load
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
