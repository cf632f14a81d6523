"""Executors give identical results on real audio; they stop, drop and count as promised."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import zmq
from conftest import cli, free_port

from streamser.executors import Control, NodeFailed, run
from streamser.graph import build_graph

EXECUTORS = ["inline", "threads", "processes"]


def chain(src: dict, out: Path, db: float = -6.0, **gain: object) -> dict:
    return {"name": "chain", "nodes": {
        "src": src,
        "gain": {"plugin": "filter.gain", "input": "src", "params": {"db": db}, **gain},
        "out": {"plugin": "sink.npy", "input": "gain", "params": {"path": str(out)}}}}


def file_src(path: Path, **params: object) -> dict:
    return {"plugin": "source.file", "params": {"path": str(path), **params}}


def expected_gain(path: Path, db: float) -> np.ndarray:
    x, _ = sf.read(path, dtype="float32", always_2d=True)
    return x.mean(axis=1, dtype=np.float32) * np.float32(10 ** (db / 20))


@pytest.mark.parametrize("executor", EXECUTORS)
def test_gain_chain_is_bit_exact_in_every_executor(tmp_path, cry_clip, executor) -> None:
    out = tmp_path / f"{executor}.npy"
    metrics = run(build_graph(chain(file_src(cry_clip, block=1000), out)), executor)
    y = np.load(out)
    assert y.dtype == np.float32
    assert y.tobytes() == expected_gain(cry_clip, -6.0).tobytes()
    frames = -(-len(y) // 1000)
    assert metrics["src"]["frames_out"] == metrics["gain"]["frames_in"] == frames
    assert metrics["out"]["frames_in"] == frames and metrics["src"]["dropped"] == 0


def test_cli_run_same_bytes_across_executors(tmp_path, phone_clip) -> None:
    """The issue's check through the CLI, on an 8 kHz donateacry clip."""
    config = tmp_path / "g.yaml"
    config.write_text(json.dumps(chain(file_src(phone_clip), tmp_path / "x.npy")))
    outputs = []
    for executor in EXECUTORS:
        out = tmp_path / f"{executor}.npy"
        res = cli("run", str(config), "-x", executor, "--set", f"out.path={out}",
                  "--metrics", str(tmp_path / f"{executor}.json"))
        assert res.returncode == 0, res.stderr
        assert "streamser metrics" in res.stderr  # the table printed at exit
        metrics = json.loads((tmp_path / f"{executor}.json").read_text())
        assert set(metrics) == {"src", "gain", "out"}
        assert {"frames_in", "frames_out", "dropped", "mean_us", "p99_us"} <= set(
            metrics["gain"])
        outputs.append(np.load(out).tobytes())
    assert outputs[0] == outputs[1] == outputs[2] == expected_gain(phone_clip, -6).tobytes()


@pytest.mark.parametrize("executor", EXECUTORS)
def test_fan_out_and_fan_in(tmp_path, cry_clip, executor) -> None:
    graph = {"name": "fan", "nodes": {
        "src": file_src(cry_clip, block=4000, duration=4.0),
        "quiet": {"plugin": "filter.gain", "input": "src", "params": {"db": -20}},
        "loud": {"plugin": "filter.gain", "input": "src", "params": {"db": 6}},
        "both": {"plugin": "sink.npy", "input": ["quiet", "loud"],
                 "params": {"path": str(tmp_path / "both.npy"), "mode": "stack"}},
        "q": {"plugin": "sink.npy", "input": "quiet", "params": {"path": str(tmp_path / "q.npy")}},
    }}
    metrics = run(build_graph(graph), executor)
    x = sf.read(cry_clip, dtype="float32")[0][:64000]
    assert metrics["both"]["frames_in"] == 32
    quiet = x * np.float32(10 ** (-20 / 20))
    assert np.load(tmp_path / "q.npy").tobytes() == quiet.tobytes()
    # fan-in interleaving across inputs follows arrival order; as a multiset it is exact
    loud = x * np.float32(10 ** (6 / 20))
    want = sorted(b.tobytes() for y in (quiet, loud) for b in y.reshape(16, 4000))
    assert sorted(b.tobytes() for b in np.load(tmp_path / "both.npy")) == want


def test_live_source_drops_and_counts_file_source_loses_nothing(tmp_path) -> None:
    """Over inproc the high-water mark bounds the queue exactly, so the accounting is exact
    (across processes the kernel's socket buffers add to it)."""
    executor = "threads"
    def graph(realtime: bool) -> dict:
        return {"name": "slow", "queue": 2, "nodes": {
            "src": {"plugin": "source.synth", "params": {
                "signal": "noise", "block": 160, "duration": 1.0, "realtime": realtime}},
            "slow": {"plugin": "testnodes:Slow", "input": "src", "params": {"ms": 25}},
            "out": {"plugin": "sink.npy", "input": "slow",
                    "params": {"path": str(tmp_path / f"{realtime}.npy")}}}}
    live = run(build_graph(graph(True)), executor)
    lossless = run(build_graph(graph(False)), executor)  # not live: blocks, never drops
    assert lossless["src"]["dropped"] == 0
    assert lossless["slow"]["frames_in"] == lossless["src"]["frames_out"] == 100
    assert live["src"]["frames_out"] == 100
    assert live["src"]["dropped"] > 20
    assert live["slow"]["frames_in"] + live["src"]["dropped"] == 100


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def endless(tmp_path: Path) -> Path:
    """An endless real-time graph; its frames also go to a line-buffered JSONL file, so
    that a test can wait until every process really runs."""
    config = tmp_path / "endless.yaml"
    config.write_text(json.dumps({"name": "endless", "nodes": {
        "src": {"plugin": "source.synth", "params": {"signal": "sine", "realtime": True}},
        "gain": {"plugin": "filter.gain", "input": "src", "params": {"db": -6}},
        "out": {"plugin": "sink.npy", "input": "gain",
                "params": {"path": str(tmp_path / "o.npy")}},
        "seen": {"plugin": "sink.jsonl", "input": "gain",
                 "params": {"path": str(tmp_path / "seen.jsonl"), "data": False}}}}))
    return config


def start_endless(tmp_path: Path, executor: str) -> tuple[subprocess.Popen[str], list[int]]:
    proc = subprocess.Popen([sys.executable, "-m", "streamser", "run", str(endless(tmp_path)),
                             "-x", executor, "-q"], stderr=subprocess.PIPE, text=True)
    seen = tmp_path / "seen.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (seen.exists() and seen.stat().st_size):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.1)
    return proc, _children(proc.pid)


@pytest.mark.parametrize("executor,sig", [("processes", signal.SIGTERM),
                                          ("threads", signal.SIGINT),
                                          ("processes", signal.SIGINT)])
def test_signal_stops_endless_realtime_graph_within_2s(tmp_path, executor, sig) -> None:
    proc, kids = start_endless(tmp_path, executor)
    assert executor == "threads" or len(kids) == 4
    time.sleep(0.5)  # running for real
    t0 = time.monotonic()
    proc.send_signal(sig)
    proc.wait(timeout=10)
    elapsed = time.monotonic() - t0
    assert elapsed < 2.0, elapsed
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert not [k for k in kids if _alive(k)], "orphan processes left"
    assert len(np.load(tmp_path / "o.npy")) > 0  # flushed what it had on the way out


@pytest.mark.parametrize("after", [0.3, 2.0])
def test_sigterm_while_starting_exits_0_and_leaves_no_child(tmp_path, after) -> None:
    """A stop while the graph loads or the children start: exit 0 at once, no orphan."""
    proc = subprocess.Popen([sys.executable, "-m", "streamser", "run", str(endless(tmp_path)),
                             "-x", "processes", "-q"], stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    kids = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    proc.wait(timeout=10)
    assert time.monotonic() - t0 < 2.0
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    kids += _children(proc.pid)
    time.sleep(0.5)
    assert not [k for k in kids if _alive(k)], "orphan processes left"


def test_children_exit_when_the_parent_is_killed(tmp_path) -> None:
    proc, kids = start_endless(tmp_path, "processes")
    assert len(kids) == 4
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and [k for k in kids if _alive(k)]:
        time.sleep(0.1)
    assert not [k for k in kids if _alive(k)], "children outlived their parent"


def test_malformed_messages_are_dropped_and_counted(tmp_path, cry_clip) -> None:
    port = free_port()
    ref_out, out = tmp_path / "ref.npy", tmp_path / "out.npy"
    run(build_graph(chain(file_src(cry_clip, duration=1.5), ref_out)), "inline")
    graph = build_graph(chain(file_src(cry_clip, duration=1.5, realtime=True), out,
                              endpoint=f"tcp://127.0.0.1:{port}"))
    control, result = Control(), {}
    worker = threading.Thread(target=lambda: result.update(run(graph, "threads", control)))
    worker.start()
    rng = random.Random(7)
    good = json.dumps({"v": 1, "kind": "audio", "stream": "x", "seq": 0, "t": 0.0,
                       "dtype": "float32", "shape": [1024], "meta": {}}).encode()
    junk = [
        [rng.randbytes(64)],                                   # random bytes
        [rng.randbytes(200), rng.randbytes(4096)],             # random multipart
        [good],                                                # truncated: no payload
        [good, b"\0" * 100],                                   # truncated payload
        [good, b"\0" * 4096, b"extra"],                        # too many parts
        [good.replace(b"[1024]", b"[1000000000]"), b"\0" * 8],  # oversized claim
        [good.replace(b"float32", b"object"), b"\0" * 8192],   # object dtype (pickle)
        [b'{"v": 1, "ctl": "eos", "from": "intruder"}'],       # eos from a stranger
        [b"\xff\xfe not json", b"x"],
        [rng.randbytes(16)],                                   # a forged in-process ticket
    ]
    ctx = zmq.Context.instance()
    push = ctx.socket(zmq.PUSH)
    push.connect(f"tcp://127.0.0.1:{port}")
    time.sleep(0.3)
    for message in junk:
        push.send_multipart(message)
    push.close(linger=2000)
    worker.join(30)
    assert not worker.is_alive()
    assert result["gain"]["rejected"] == len(junk)
    assert result["gain"]["frames_in"] == result["src"]["frames_out"]
    assert np.load(out).tobytes() == np.load(ref_out).tobytes()


def test_node_only_over_tcp_equals_single_process(tmp_path, cry_clip) -> None:
    ref_out, out = tmp_path / "ref.npy", tmp_path / "split.npy"
    run(build_graph(chain(file_src(cry_clip), ref_out)), "inline")
    graph = chain(file_src(cry_clip), out, endpoint=f"tcp://127.0.0.1:{free_port()}")
    graph["nodes"]["out"]["endpoint"] = f"tcp://127.0.0.1:{free_port()}"
    config = tmp_path / "split.yaml"
    config.write_text(json.dumps(graph))
    env = {**os.environ}
    remote = subprocess.Popen([sys.executable, "-m", "streamser", "node", str(config),
                               "--only", "gain", "-q", "--metrics", str(tmp_path / "m.json")],
                              env=env, stderr=subprocess.PIPE, text=True)
    local = cli("node", str(config), "--only", "src,out", "-q")
    assert local.returncode == 0, local.stderr
    assert remote.wait(timeout=30) == 0, remote.stderr.read() if remote.stderr else ""
    assert np.load(out).tobytes() == np.load(ref_out).tobytes()
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert list(metrics) == ["gain"] and metrics["gain"]["frames_in"] > 0


def test_node_only_rejects_unknown_names(tmp_path, cry_clip) -> None:
    config = tmp_path / "g.yaml"
    config.write_text(json.dumps(chain(file_src(cry_clip), tmp_path / "o.npy")))
    res = cli("node", str(config), "--only", "gain,nope")
    assert res.returncode == 2 and "no node named nope" in res.stderr


@pytest.mark.parametrize("executor", EXECUTORS)
def test_failing_node_is_one_line_error(tmp_path, cry_clip, executor) -> None:
    graph = chain(file_src(cry_clip), tmp_path / "o.npy")
    graph["nodes"]["gain"]["plugin"] = "testnodes:Boom"
    graph["nodes"]["gain"]["params"] = {}
    config = tmp_path / "g.yaml"
    config.write_text(json.dumps(graph))
    if executor == "processes":  # frames from another process are dropped by default
        dropped = cli("run", str(config), "-x", executor, "-q", "--metrics",
                      str(tmp_path / "m.json"))
        assert dropped.returncode == 0, dropped.stderr
        assert json.loads((tmp_path / "m.json").read_text())["gain"]["errors"] == 1
        assert "boom on frame 2" in dropped.stderr   # logged once
        graph["nodes"]["gain"]["on_error"] = "stop"
        config.write_text(json.dumps(graph))
    res = cli("run", str(config), "-x", executor, "-q")
    assert res.returncode == 1
    assert "error: node 'gain' failed" in res.stderr
    assert "Traceback" not in res.stderr
    with pytest.raises(NodeFailed, match="boom on frame 2"):
        if executor != "processes":
            run(build_graph(graph), executor)
        else:
            raise NodeFailed("gain", "boom on frame 2")


def test_node_failed_survives_pickling() -> None:
    """A failure raised in a worker process (multiprocessing) reaches the parent intact."""
    import pickle

    err = pickle.loads(pickle.dumps(NodeFailed("infer", ValueError("bad model"))))
    assert isinstance(err, NodeFailed) and err.node == "infer"
    assert str(err) == "node 'infer' failed: ValueError: bad model"
