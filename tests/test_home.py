"""The robot at home: graph files that extend another, and configs/cry_robot_home.yaml run
as the independent check runs it (a real broker, a recorded stream, --set mqtt.port and
web.port): its cry_starts on MQTT, the retained state and discovery configs, the page
served, and the descriptors on every cry_end."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import soundfile as sf
import yaml
from broker import Mosquitto, Subscriber, retained
from conftest import ROOT, data_file, free_port

from streamser.graph import GraphError, load_graph

FIELDS = ("loudness_db", "above_noise_db", "f0_hz", "voiced", "units", "intensity", "trend")


def test_a_graph_extends_another(tmp_path) -> None:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"name": "base", "nodes": {
        "src": {"plugin": "source.synth", "params": {"signal": "sine", "duration": 1.0}},
        "gain": {"plugin": "filter.gain", "input": "src", "params": {"db": -6}},
        "out": {"plugin": "sink.console", "input": "gain"}}}, sort_keys=False))
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nname: child\nnodes:\n"
                     "  gain: {params: {db: -12}}\n  out: null\n"
                     "  npy: {plugin: sink.npy, input: gain, params: {path: x.npy}}\n")
    graph = load_graph(child)
    assert graph.name == "child" and list(graph.nodes) == ["src", "gain", "npy"]
    assert graph.nodes["gain"].params.db == -12 and graph.nodes["src"].params.duration == 1.0
    child.write_text("extends: nowhere.yaml\nnodes: {}\n")
    with pytest.raises(GraphError, match=r"child.yaml:1: extends: .*nowhere.yaml: cannot "
                                         r"read graph"):
        load_graph(child)
    child.write_text("name: child\nextends: base.yaml\nnodes:\n  gain: {params: {db: x}}\n")
    with pytest.raises(GraphError, match=r"child.yaml:4: node 'gain': params.db"):
        load_graph(child)
    child.write_text("name: child\nextends: base.yaml\nnodes:\n  src: {params: {nope: 1}}\n")
    with pytest.raises(GraphError, match=r"child.yaml:4: node 'src': params.nope"):
        load_graph(child)


def test_the_home_robot_is_the_robot_plus_mqtt_and_web() -> None:
    robot = load_graph(ROOT / "configs" / "cry_robot.yaml")
    home = load_graph(ROOT / "configs" / "cry_robot_home.yaml")
    assert set(home.nodes) == set(robot.nodes) | {"mqtt", "web"}
    for name, spec in robot.nodes.items():  # the robot's own nodes, as they are there
        if name != "smooth":
            assert home.nodes[name].params == spec.params, name
    assert home.nodes["smooth"].params.update == 1.0  # a cry_update every second
    for config in ("cry_robot", "cry_robot_quiet", "cry_robot_mcu"):
        graph = load_graph(ROOT / "configs" / f"{config}.yaml")
        assert graph.nodes["events"].inputs == ("describe",)
        assert graph.nodes["describe"].inputs == ("mic", "smooth")


def scene(tmp_path) -> str:
    """Real audio: a quiet room, 10 s of a baby crying, the room again (16 kHz)."""
    room = sorted(data_file("babycry_esc/silence").glob("*.flac"))
    cry = sorted(data_file("babycry_esc/crying").glob("*.flac"))
    quiet = np.concatenate([sf.read(p, dtype="float32")[0] for p in room[:2]]) * 0.05
    crying = np.concatenate([sf.read(p, dtype="float32")[0] for p in cry[2:4]])
    path = tmp_path / "home.flac"
    sf.write(path, np.concatenate([quiet[:6 * 16000], crying, quiet[:6 * 16000]]), 16000)
    return str(path)


@pytest.mark.slow
def test_home_robot_on_a_recorded_stream(tmp_path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    sub = Subscriber(broker.port, ["streamser/#"])
    web, events = free_port(), tmp_path / "events.jsonl"
    cmd = [sys.executable, "-m", "streamser", "run", str(ROOT / "configs" /
                                                          "cry_robot_home.yaml"),
           "--input", scene(tmp_path), "--realtime", "--events", str(events), "-q",
           "--set", f"mqtt.port={broker.port}", "--set", f"web.port={web}",
           "--set", f"publish.endpoint=tcp://127.0.0.1:{free_port()}",
           "--set", f"mqtt.spool={tmp_path / 'spool.jsonl'}",
           "--set", f"web.false_alarms={tmp_path / 'fa.jsonl'}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        page = None
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web}/", timeout=2) as res:
                    page = res.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        written = [json.loads(x) for x in events.read_text().splitlines()]
        starts = [e for e in written if e["event"] == "cry_start"]
        on_mqtt = [json.loads(p) for p in sub.wait_for("streamser/cry_robot_home/events",
                                                        len(written))]
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.close()
    assert page is not None and '<script src="app.js"' in page
    assert starts, "no cry found in 10 s of crying"
    assert all(s in on_mqtt for s in starts) and on_mqtt == written
    ends = [e for e in written if e["event"] == "cry_end"]
    assert ends and all(set(FIELDS) <= set(e) for e in ends)
    assert all(set(FIELDS) <= set(e) for e in written if e["event"] == "cry_update")
    kept = retained(broker.port, ["#"])
    broker.stop()
    prefix = "streamser/cry_robot_home"
    assert kept[f"{prefix}/cry"] == "OFF" and kept[f"{prefix}/status"] == "offline"
    assert 0 <= float(kept[f"{prefix}/score"]) <= 1
    assert sum(t.startswith("homeassistant/") and t.endswith("/config") for t in kept) == 3


def test_the_home_robot_runs_without_torch_or_matplotlib(tmp_path) -> None:
    """The robot's runtime (MQTT, page and descriptors included) imports neither."""
    blocker = tmp_path / "blocked"
    blocker.mkdir()
    for name in ("torch", "matplotlib"):
        (blocker / f"{name}.py").write_text(f"raise ImportError('{name} blocked by a test')\n")
    clip = data_file("babycry_esc/crying/1-187207-A.flac")
    res = subprocess.run(
        [sys.executable, "-m", "streamser", "run", str(ROOT / "configs" / "cry_robot_home.yaml"),
         "--input", str(clip), "--events", str(tmp_path / "ev.jsonl"), "-q",
         "--set", f"mqtt.port={free_port()}", "--set", "mqtt.connect_wait=0",
         "--set", "mqtt.drain=0", "--set", f"web.port={free_port()}",
         "--set", f"publish.endpoint=tcp://127.0.0.1:{free_port()}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(blocker)})
    assert res.returncode == 0, res.stderr
    assert "blocked" not in res.stderr
