"""``streamser keys``, ``devices``, ``monitor`` and ``listen``: security, sound cards, a
live view, a running graph's events."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click

from .errors import EXIT_INVALID, fail


@click.command("keys")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", default="streamser", show_default=True, help="Base name of the files.")
@click.option("--force", is_flag=True, help="Replace an existing key pair of that name.")
def keys_cmd(directory: str, name: str, force: bool) -> None:
    """Make a CurveZMQ key pair (NAME.key, NAME.key_secret) for encrypted tcp links.

    Copy the .key_secret file to every host of the deployment and set
    `curve: PATH/NAME.key_secret` at the top of the graph YAML. An existing pair is not
    replaced without --force. Keep key files out of version control.
    """
    from ..security import make_keys
    try:
        public, secret = make_keys(directory, name, force)
    except FileExistsError as exc:
        fail(str(exc))
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
    """Show a running graph's level, VAD, scores and events from its sink.zmq ENDPOINT
    (exit 1 when nothing arrived)."""
    from ..monitor import monitor
    with _subscriber_errors(endpoint):
        frames = monitor(endpoint, list(topics), seconds, once, curve)
    if not frames:
        _nothing(endpoint, seconds if seconds is not None else 1.0 if once else None)


@click.command("listen")
@click.argument("endpoint")
@click.option("--topic", "topics", multiple=True, help="Topic (publishing node name) to "
              "listen to; every topic when none. Repeatable.")
@click.option("--seconds", type=click.FloatRange(min=0), help="Exit after this long "
              "(else at the publisher's end of stream, or Ctrl-C).")
@click.option("--curve", type=click.Path(exists=True, dir_okay=False),
              help="CurveZMQ secret key file of the publisher.")
def listen_cmd(endpoint: str, topics: tuple[str, ...], seconds: float | None,
               curve: str | None) -> None:
    """Print the events a running graph's sink.zmq publishes at ENDPOINT, one JSON
    object per line (as --events writes them), until its stream ends."""
    import sys

    from ..monitor import listen

    def write(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    with _subscriber_errors(endpoint):
        count = listen(endpoint, list(topics), seconds, curve, write)
    if not count:
        _nothing(endpoint, seconds)


@contextmanager
def _subscriber_errors(endpoint: str) -> Iterator[None]:
    """A bad endpoint or key file: one line (exit 2); a socket error: one line."""
    from pydantic import ValidationError
    try:
        yield
    except ValidationError as exc:
        from ..messages import validation_message
        fail(f"{endpoint}: {validation_message(exc.errors()[0])}", EXIT_INVALID)
    except RuntimeError as exc:
        fail(str(exc))


def _nothing(endpoint: str, seconds: float | None) -> NoReturn:
    within = f" in {seconds:g} s" if seconds is not None else ""
    fail(f"nothing arrived from {endpoint}{within}: is a graph with a sink.zmq node "
         "publishing there (and its topic the one asked for)?")
