"""``streamser service install``: run a graph as a systemd service that never stops."""
from __future__ import annotations

import getpass
import os
from pathlib import Path

import click

from .errors import fail, load_or_exit
from .options import EXECUTORS, set_option


@click.group("service")
def service_cmd() -> None:
    """Run a graph as a systemd service (restarted on failure, watched, logged)."""


@service_cmd.command("install")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--user", "user_unit", is_flag=True, help="A unit of your own systemd "
              "(~/.config/systemd/user), no root needed; else a system unit "
              "(/etc/systemd/system).")
@click.option("--name", help="Service name (default: streamser-GRAPH).")
@set_option
@click.option("--executor", "-x", type=click.Choice(EXECUTORS), default="inline",
              show_default=True, help="Executor of the service's run.")
@click.option("--watchdog", type=click.FloatRange(5, 3600), default=30.0, show_default=True,
              help="Seconds without frames after which systemd restarts the service.")
@click.option("--run-as", metavar="USER", help="System unit: the user it runs as (default: "
              "who called sudo, else you); never root unless named.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the unit here instead "
              "(to review it, or to install it yourself).")
def install_cmd(config: str, user_unit: bool, name: str | None, sets: tuple[str, ...],
                executor: str, watchdog: float, run_as: str | None, out: str | None) -> None:
    """Write a systemd unit that runs CONFIG: Type=notify with a watchdog fed while
    frames flow, Restart=on-failure, logs to the journal."""
    from ..systemd import unit_text

    graph = load_or_exit(config, sets)  # the service must not start a broken graph
    name = name or f"streamser-{graph.name}"
    if user_unit:
        run_as = None
    elif run_as is None:
        run_as = os.environ.get("SUDO_USER") or getpass.getuser()
        if run_as == "root":
            fail("a system unit would run the graph as root: name the user it runs as "
                 "with --run-as USER (or install it with sudo from your account)")
    args = [item for s in sets for item in ("--set", s)]
    if executor != "inline":
        args += ["--executor", executor]
    text = unit_text(Path(config).resolve(), name, graph.name, args, watchdog, user_unit,
                     Path.cwd(), run_as)
    if out:
        path = Path(out)
    elif user_unit:
        path = Path.home() / ".config" / "systemd" / "user" / f"{name}.service"
    else:
        path = Path("/etc/systemd/system") / f"{name}.service"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        hint = "" if user_unit or out else " (a system unit needs root: sudo, or --user)"
        fail(f"cannot write {path}: {exc.strerror}{hint}")
    click.echo(f"wrote {path}")
    if out:
        return
    ctl = "systemctl --user" if user_unit else "sudo systemctl"
    click.echo(f"start it now and at every boot:  {ctl} daemon-reload && {ctl} enable --now "
               f"{name}")
    click.echo(f"its log:  journalctl {'--user ' if user_unit else ''}-u {name} -f")
    if user_unit:
        click.echo(f"keep it running when you log out:  sudo loginctl enable-linger "
                   f"{getpass.getuser()}")
