"""systemd integration: the notify protocol (``READY=1``, ``WATCHDOG=1``) and the unit that
``streamser service install`` writes.

Under a ``Type=notify`` unit, systemd gives the process ``NOTIFY_SOCKET`` (and, with
``WatchdogSec=``, ``WATCHDOG_USEC``). :class:`Watchdog` says ``READY=1`` once the first
frame flows and then ``WATCHDOG=1`` every half watchdog period *while frames flow*: a
graph that stalls (a source stuck, a hung device, a wedged node upstream of every source
frame) stops the pings and systemd restarts the service. No dependency: one datagram on a
Unix socket.
"""
from __future__ import annotations

import os
import shlex
import socket
import sys
import threading
from pathlib import Path

from .executors.common import Control


def notify(state: str, env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Send ``state`` to systemd's notify socket; False when there is none (or it fails)."""
    address = env.get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "@/":
        return False
    if address[0] == "@":  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(address)
            s.sendall(state.encode())
        return True
    except OSError:
        return False


class Watchdog:
    """READY=1 when frames first flow, WATCHDOG=1 while they flow, STOPPING=1 at the end.

    ``child``: a process of the processes executor, whose pings systemd takes from any
    process of the service (``NotifyAccess=all``), so ``WATCHDOG_PID`` (the main
    process) does not silence it.
    """

    def __init__(self, control: Control, child: bool = False,
                 env: dict[str, str] | os._Environ[str] = os.environ) -> None:
        self.control, self.env = control, env
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = child or not pid or pid == str(os.getpid())
        self.period = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 and mine else None
        self.done = threading.Event()
        self.pings = 0

    @property
    def wanted(self) -> bool:
        return bool(self.env.get("NOTIFY_SOCKET"))

    def start(self) -> None:
        if self.wanted:
            threading.Thread(target=self._run, name="streamser:watchdog", daemon=True).start()

    def _run(self) -> None:
        last: dict[str, float] = {}
        ready = False
        while not self.done.wait(min(self.period or 1.0, 1.0)):
            progress = dict(self.control.position)
            if not progress or progress == last or self.control.stop.is_set():
                continue  # no frame since the last look: no ping
            last = progress
            audio = max(progress.values())
            if not ready:
                ready = notify(f"READY=1\nSTATUS=running, {audio:.0f} s of audio", self.env)
            elif self.period is not None:
                if notify(f"WATCHDOG=1\nSTATUS=running, {audio:.0f} s of audio", self.env):
                    self.pings += 1

    def stop(self) -> None:
        """The run is over: STOPPING=1 (the process exits next)."""
        if not self.done.is_set() and self.wanted:
            notify("STOPPING=1", self.env)
        self.done.set()


def unit_text(config: Path, name: str, graph: str, args: list[str], watchdog: float,
              user: bool, workdir: Path, run_as: str | None = None) -> str:
    """The systemd unit ``name`` that runs ``streamser run CONFIG ARGS`` (graph ``graph``)
    for good."""
    exe = Path(sys.executable).parent / "streamser"
    command = [str(exe if exe.exists() else Path(sys.executable)), *(
        [] if exe.exists() else ["-m", "streamser"]), "run", str(config), "-q", *args]
    service = [
        "[Unit]",
        f"Description=streamser graph {graph} ({config})",
        "Wants=network-online.target",
        "After=network-online.target sound.target",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=all",
        f"ExecStart={shlex.join(command)}",
        f"WorkingDirectory={workdir}",
        "Restart=on-failure",
        "RestartSec=5",
        f"WatchdogSec={watchdog:g}",
        "TimeoutStartSec=120",
        "TimeoutStopSec=10",
        "KillMode=mixed",
        "StandardOutput=journal",
        "StandardError=journal",
        f"SyslogIdentifier={name}",
        "Environment=PYTHONUNBUFFERED=1",
    ]
    if run_as:
        service += [f"User={run_as}", "SupplementaryGroups=audio"]
    return "\n".join([*service, "", "[Install]",
                      f"WantedBy={'default.target' if user else 'multi-user.target'}", ""])
