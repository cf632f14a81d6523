"""CLI commands: plugins, inspect, graph pictures, keys and CurveZMQ links."""
from __future__ import annotations

import json
import threading
import time

import numpy as np
import zmq
from conftest import cli, free_port

from streamser.executors import run
from streamser.graph import build_graph

BUILTINS = ["source.file", "source.synth", "filter.gain", "sink.npy", "sink.jsonl",
            "sink.console"]


def test_plugins_lists_every_builtin_one_line_each() -> None:
    res = cli("plugins")
    assert res.returncode == 0, res.stderr
    lines = {line.split()[0]: line for line in res.stdout.splitlines()}
    for name in BUILTINS:
        assert name in lines
        assert len(lines[name].split(None, 2)[2]) > 10  # a description follows the ports
    assert "audio -> audio" in lines["filter.gain"] and "Scale audio by a gain" in \
        lines["filter.gain"]


def test_inspect_shows_params_defaults_and_kinds() -> None:
    res = cli("inspect", "filter.gain")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "inputs:  audio" in out and "outputs: audio" in out
    assert "db" in out and "0.0" in out and ">= -120, <= 60" in out and "Gain in dB" in out
    synth = cli("inspect", "source.synth").stdout
    for param in ("signal", "freq", "duration", "realtime", "block", "seed"):
        assert param in synth
    bad = cli("inspect", "filter.gian")
    assert bad.returncode == 2 and "did you mean 'filter.gain'" in bad.stderr


def test_inspect_module_class_path() -> None:
    res = cli("inspect", "testnodes:Slow")
    assert res.returncode == 0 and "ms" in res.stdout and "sleeping" in res.stdout


def test_graph_picture_png_and_dot(tmp_path) -> None:
    config = tmp_path / "g.yaml"
    config.write_text("""\
name: fan
nodes:
  src:  {plugin: source.synth, params: {duration: 1}}
  a:    {plugin: filter.gain, input: src}
  b:    {plugin: filter.gain, input: src, params: {db: -3}}
  out:  {plugin: sink.npy, input: [a, b], params: {path: o.npy}}
""")
    assert cli("graph", str(config), "--out", str(tmp_path / "g.dot")).returncode == 0
    dot = (tmp_path / "g.dot").read_text()
    assert '"src" -> "a"' in dot and '"b" -> "out"' in dot and "filter.gain" in dot
    res = cli("graph", str(config), "--out", str(tmp_path / "g.png"))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_with_input_and_console_sink(tmp_path, cry_clip) -> None:
    config = tmp_path / "g.yaml"
    config.write_text(json.dumps({"name": "c", "nodes": {
        "mic": {"plugin": "source.synth"},
        "out": {"plugin": "sink.console", "input": "mic", "params": {"every": 10}}}}))
    res = cli("run", str(config), "--input", str(cry_clip), "--set", "mic.block=16000")
    assert res.returncode == 0, res.stderr
    rows = [r for r in res.stderr.splitlines() if "audio" in r]
    assert len(rows) == 1 and "16000 samples" in rows[0] and "dBFS" in rows[0]
    quiet = cli("run", str(config), "--input", str(cry_clip), "-q")   # the console stays
    assert quiet.returncode == 0 and "samples" in quiet.stderr
    assert "metrics" not in quiet.stderr
    res = cli("run", str(config), "--input", "synth:noise", "--set", "mic.duration=0.5", "-q")
    assert res.returncode == 0, res.stderr
    assert cli("run", str(config), "--events", "e.jsonl").returncode == 2


def test_jsonl_sink(tmp_path) -> None:
    out = tmp_path / "f.jsonl"
    run(build_graph({"name": "j", "nodes": {
        "src": {"plugin": "source.synth", "params": {"duration": 0.25, "block": 1000}},
        "out": {"plugin": "sink.jsonl", "input": "src", "params": {"path": str(out)}}}}))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["seq"] for r in rows] == [0, 1, 2, 3]
    assert rows[1]["t"] == 1000 / 16000 and rows[0]["meta"] == {"sample_rate": 16000}
    assert len(rows[3]["data"]) == 1000


def test_curve_keys_encrypt_and_authenticate_tcp(tmp_path, cry_clip) -> None:
    res = cli("keys", str(tmp_path / "keys"))
    assert res.returncode == 0, res.stderr
    secret = tmp_path / "keys" / "streamser.key_secret"
    assert secret.stat().st_mode & 0o077 == 0
    port = free_port()
    raw = {"name": "curve", "curve": str(secret), "nodes": {
        "src": {"plugin": "source.file",
                "params": {"path": str(cry_clip), "duration": 1.0, "realtime": True}},
        "gain": {"plugin": "filter.gain", "input": "src", "params": {"db": -6},
                 "endpoint": f"tcp://127.0.0.1:{port}"},
        "out": {"plugin": "sink.npy", "input": "gain",
                "params": {"path": str(tmp_path / "o.npy")}}}}
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(run(build_graph(raw), "threads")))
    worker.start()
    time.sleep(0.3)
    intruder = zmq.Context.instance().socket(zmq.PUSH)  # no CURVE: the handshake fails
    intruder.connect(f"tcp://127.0.0.1:{port}")
    for _ in range(5):
        intruder.send_multipart([b"junk", b"junk"], flags=zmq.NOBLOCK) if \
            intruder.poll(100, zmq.POLLOUT) else None
    intruder.close(linger=0)
    worker.join(30)
    assert result["gain"]["rejected"] == 0  # never even reached the node
    assert result["gain"]["frames_in"] == result["src"]["frames_out"] > 0
    assert len(np.load(tmp_path / "o.npy")) == 16000
