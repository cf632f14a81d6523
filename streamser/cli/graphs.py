"""``streamser validate`` and ``streamser graph``: check a graph, draw it."""
from __future__ import annotations

import click

from .errors import fail, load_or_exit
from .options import input_options, set_option

#: Validating or drawing a graph needs no microphone: a missing package is a warning.
CHECK_ONLY = {"missing_packages": "warn"}


@click.command("validate")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@set_option
@input_options
def validate_cmd(config: str, sets: tuple[str, ...], input_: str | None,
                 input_format: str | None) -> None:
    """Check CONFIG without running it (exit 2 with one line per problem; a package the
    run would need that is not installed is a warning)."""
    graph = load_or_exit(config, sets, input_, input_format=input_format, **CHECK_ONLY)
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
@input_options
def graph_cmd(config: str, out: str, sets: tuple[str, ...], input_: str | None,
              input_format: str | None) -> None:
    """Draw CONFIG as a picture."""
    from ..drawing import draw
    graph = load_or_exit(config, sets, input_, input_format=input_format, **CHECK_ONLY)
    try:
        draw(graph, out)
    except (RuntimeError, ValueError, OSError) as exc:
        fail(str(exc))
    click.echo(f"wrote {out}")
