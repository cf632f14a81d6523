"""``streamser keys``, ``devices`` and ``monitor``: security, sound cards, live view."""
from __future__ import annotations

import click

from .errors import EXIT_INVALID, fail


@click.command("keys")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", default="streamser", show_default=True, help="Base name of the files.")
def keys_cmd(directory: str, name: str) -> None:
    """Make a CurveZMQ key pair (NAME.key, NAME.key_secret) for encrypted tcp links.

    Copy the .key_secret file to every host of the deployment and set
    `curve: PATH/NAME.key_secret` at the top of the graph YAML.
    """
    from ..security import make_keys
    public, secret = make_keys(directory, name)
    click.echo(f"wrote {public} and {secret} (keep the secret file private)")


@click.command("devices")
def devices_cmd() -> None:
    """List audio input devices (index, name, input channels, default rate)."""
    from ..devices import AudioUnavailable, input_devices
    try:
        devices = input_devices()
    except AudioUnavailable as exc:
        fail(str(exc))
    if not devices:
        click.echo("no audio input devices found")
    for d in devices:
        click.echo(f"{d.index:>3}  {d.name}  ({d.channels} ch, {d.default_rate:g} Hz)")


@click.command("monitor")
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

    from ..monitor import monitor
    try:
        monitor(endpoint, list(topics), seconds, once, curve)
    except ValidationError as exc:
        from ..messages import validation_message
        message = validation_message(exc.errors()[0])
        fail(f"{endpoint}: {message}", EXIT_INVALID)
    except RuntimeError as exc:
        fail(str(exc))
