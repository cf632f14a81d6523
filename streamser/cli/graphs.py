"""``streamser validate`` and ``streamser graph``: check a graph, draw it."""
from __future__ import annotations

import click

from .errors import fail, load_or_exit
from .options import set_option


@click.command("validate")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@set_option
def validate_cmd(config: str, sets: tuple[str, ...]) -> None:
    """Check CONFIG without running it (exit 2 with one line per problem)."""
    graph = load_or_exit(config, sets)
    click.echo(f"ok: {config}: graph '{graph.name}', {len(graph.nodes)} nodes, "
               f"{sum(len(s.inputs) for s in graph.nodes.values())} links")
    for name, spec in graph.nodes.items():      # what a node will load (infer: which build)
        plan = getattr(spec.cls, "plan", None)
        if plan is not None:
            click.echo(f"  {name}: {plan(spec.params)}")


@click.command("graph")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False),
              help="Output picture: .png/.svg/.pdf (matplotlib) or .dot (Graphviz).")
@set_option
def graph_cmd(config: str, out: str, sets: tuple[str, ...]) -> None:
    """Draw CONFIG as a picture."""
    from ..drawing import draw
    graph = load_or_exit(config, sets)
    try:
        draw(graph, out)
    except (RuntimeError, ValueError, OSError) as exc:
        fail(str(exc))
    click.echo(f"wrote {out}")
