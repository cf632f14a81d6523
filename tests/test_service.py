"""A service that never stops: ``streamser service install`` writes a unit that
``systemd-analyze verify`` accepts, and under systemd's notify protocol a run says
READY=1, then WATCHDOG=1 while frames flow, and stops pinging when they stop."""
from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, TESTS, cli


def test_service_install_writes_a_unit_systemd_accepts(tmp_path) -> None:
    analyze = shutil.which("systemd-analyze")
    unit = tmp_path / "streamser-cry_robot_home.service"
    res = cli("service", "install", str(ROOT / "configs" / "cry_robot_home.yaml"),
              "--out", str(unit), "--run-as", getpass.getuser(), "--set", "mqtt.port=1884",
              "--watchdog", "20")
    assert res.returncode == 0, res.stderr
    text = unit.read_text()
    for line in ("Type=notify", "NotifyAccess=all", "Restart=on-failure", "WatchdogSec=20",
                 "StandardOutput=journal", "StandardError=journal",
                 "WantedBy=multi-user.target"):
        assert line in text.splitlines(), line
    exec_start = next(x for x in text.splitlines() if x.startswith("ExecStart="))
    assert " run " in exec_start and "cry_robot_home.yaml" in exec_start
    assert "--set mqtt.port=1884" in exec_start
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd): the unit "
                    "was written but not verified")
    ok = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    said = [x for x in (ok.stdout + ok.stderr).splitlines() if unit.name in x]
    assert ok.returncode == 0 and not said, ok.stdout + ok.stderr
    broken = tmp_path / "broken.service"  # the check can fail: a bad directive is reported
    broken.write_text(text.replace("Restart=on-failure", "Restart=sometimes"))
    bad = subprocess.run([analyze, "verify", str(broken)], capture_output=True, text=True)
    assert "restart" in (bad.stdout + bad.stderr).lower()


def test_a_user_unit_and_a_root_refusal(tmp_path) -> None:
    unit = tmp_path / "u.service"
    res = cli("service", "install", str(ROOT / "configs" / "tone.yaml"), "--user",
              "--out", str(unit))
    assert res.returncode == 0, res.stderr
    assert "WantedBy=default.target" in unit.read_text() and "User=" not in unit.read_text()
    bad = cli("service", "install", str(ROOT / "configs" / "tone.yaml"), "--out",
              str(unit), "--set", "nope.x=1")
    assert bad.returncode == 2 and "no node named 'nope'" in bad.stderr


def _notify_socket(tmp_path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.1)
    return sock


def test_watchdog_pings_while_frames_flow_and_stops_when_they_stop(tmp_path) -> None:
    graph = tmp_path / "stall.yaml"
    graph.write_text(yaml.safe_dump({"name": "stall", "nodes": {
        "src": {"plugin": "testnodes:Stall", "params": {"seconds": 2.0}},
        "out": {"plugin": "sink.console", "input": "src", "params": {"every": 1000}}}}))
    sock = _notify_socket(tmp_path)
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "400000",
           "PYTHONPATH": str(TESTS)}
    proc = subprocess.Popen([sys.executable, "-m", "streamser", "run", str(graph), "-q"],
                            env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    got: list[tuple[float, str]] = []
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 8.0:
            try:
                got.append((time.monotonic() - t0, sock.recv(4096).decode()))
            except TimeoutError:
                pass
        proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + 5
        while time.monotonic() < end and not any("STOPPING=1" in m for _, m in got):
            try:
                got.append((time.monotonic() - t0, sock.recv(4096).decode()))
            except TimeoutError:
                pass
        assert proc.wait(10) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    ready = [t for t, m in got if m.startswith("READY=1")]
    pings = [t for t, m in got if m.startswith("WATCHDOG=1")]
    assert len(ready) == 1 and all(t > ready[0] for t in pings)
    # frames flow for 2 s after start-up: pings every 0.2 s; then none for seconds
    assert len(pings) >= 5, got
    assert got[-1][1].startswith("STOPPING=1")
    quiet_since = pings[-1]
    assert max(t for t, m in got if not m.startswith("STOPPING")) == quiet_since
    assert 8.0 - quiet_since >= 3.0, got  # the stall: no ping in its last 3 s at least
