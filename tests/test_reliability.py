"""Start-up failures end fast with one line; sizes and YAML are bounded; bad input is
cleaned at the source; events are strict JSON lines."""
from __future__ import annotations

import json
import socket
import time

import numpy as np
import pytest
import soundfile as sf
from conftest import cli

from streamser.executors import run
from streamser.executors.common import SourceError
from streamser.graph import GraphError, build_graph, load_graph


def gain_graph(tmp_path, port: int) -> str:
    config = tmp_path / "g.yaml"
    config.write_text(json.dumps({"name": "g", "nodes": {
        "src": {"plugin": "source.synth", "params": {"signal": "noise", "duration": 2.0}},
        "gain": {"plugin": "filter.gain", "input": "src",
                 "endpoint": f"tcp://127.0.0.1:{port}"},
        "save": {"plugin": "sink.npy", "input": "gain",
                 "params": {"path": str(tmp_path / "o.npy")}}}}))
    return str(config)


@pytest.mark.parametrize("how", [("node", "--only", "gain"), ("run", "-x", "processes")])
def test_bind_conflict_exits_fast_with_one_line(tmp_path, how) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = gain_graph(tmp_path, port)
        t0 = time.monotonic()
        res = cli(how[0], config, *how[1:], "-q", timeout=30)
        elapsed = time.monotonic() - t0
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        f"error: node 'gain' failed: RuntimeError: cannot bind tcp://127.0.0.1:{port}: "
        "Address already in use" if how[0] == "node" else
        f"error: node 'gain' failed: cannot bind tcp://127.0.0.1:{port}: "
        "Address already in use"]
    # (the processes executor checks its endpoints before starting any child; the time
    # is the parent's own start-up, slower than 3 s only on a machine under heavy load)
    assert elapsed < (3.0 if how[0] == "node" else 10.0)


@pytest.mark.parametrize("model", ["missing.onnx", "unreadable.onnx"])
def test_bad_model_under_processes_exits_with_one_line(tmp_path, model) -> None:
    """A model that is not there fails validation before any child starts (exit 2); one
    that is there but unreadable fails its child, and the run ends with one line (exit 1)."""
    (tmp_path / "unreadable.onnx").write_text("not a model")
    config = tmp_path / "g.yaml"
    config.write_text(json.dumps({"name": "g", "nodes": {
        "src": {"plugin": "source.synth", "params": {"signal": "noise", "duration": 2.0}},
        "mel": {"plugin": "features.logmel", "input": "src"},
        "patch": {"plugin": "window.patch", "input": "mel"},
        "detect": {"plugin": "infer", "input": "patch", "params": {"model": model}},
        "save": {"plugin": "sink.jsonl", "input": "detect",
                 "params": {"path": str(tmp_path / "o.jsonl")}}}}))
    res = cli("run", str(config), "-x", "processes", "-q", timeout=60)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    if model == "missing.onnx":
        assert res.returncode == 2 and "no such model file" in lines[0]
    else:
        assert res.returncode == 1 and lines[0].startswith("error: node 'detect' failed:")


@pytest.mark.parametrize("key,value", [("queue", 100_000_000_000), ("queue", 0),
                                       ("max_frame_bytes", 1 << 40)])
def test_sizes_are_bounded_in_validation(key, value) -> None:
    graph = {"name": "g", key: value, "nodes": {
        "src": {"plugin": "source.synth", "params": {"signal": "noise"}}}}
    with pytest.raises(GraphError, match=f"{key}: must be an integer from"):
        build_graph(graph)


def test_yaml_alias_bomb_is_refused_fast(tmp_path) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, "
              f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
              f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]"
              for i in range(8)]
    config = tmp_path / "bomb.yaml"
    config.write_text("\n".join(lines) + "\nnodes: {}\n")
    t0 = time.monotonic()
    with pytest.raises(GraphError, match="more than 50000 values"):
        load_graph(config)
    assert time.monotonic() - t0 < 5.0   # (25 s and 1.7 GB before the bound)


def test_on_error_drop_keeps_running_and_counts(tmp_path, cry_clip) -> None:
    out = tmp_path / "o.npy"
    graph = build_graph({"name": "g", "nodes": {
        "src": {"plugin": "source.file", "params": {"path": str(cry_clip), "block": 1000}},
        "gain": {"plugin": "testnodes:Boom", "input": "src", "on_error": "drop"},
        "out": {"plugin": "sink.npy", "input": "gain", "params": {"path": str(out)}}}})
    for executor in ("inline", "threads"):
        metrics = run(graph, executor)
        assert metrics["gain"]["errors"] == 1
        assert metrics["out"]["frames_in"] == metrics["src"]["frames_out"] - 1
        assert len(np.load(out)) == sf.info(str(cry_clip)).frames - 1000  # the 2nd frame


def test_non_finite_samples_are_replaced_at_the_source(tmp_path) -> None:
    x = np.zeros(4000, np.float32)
    x[[10, 2000, 3999]] = [np.nan, np.inf, -np.inf]
    wav = tmp_path / "nan.wav"
    sf.write(wav, x, 16000, subtype="FLOAT")
    out = tmp_path / "o.jsonl"
    graph = build_graph({"name": "g", "nodes": {
        "src": {"plugin": "source.file", "params": {"path": str(wav), "block": 1000}},
        "gain": {"plugin": "filter.gain", "input": "src"},
        "out": {"plugin": "sink.jsonl", "input": "gain", "params": {"path": str(out)}}}})
    for executor in ("inline", "threads"):
        metrics = run(graph, executor)
        assert metrics["src"]["replaced"] == 3

        def strict(value: str) -> None:
            raise AssertionError(f"non-standard JSON constant {value}")
        rows = [json.loads(line, parse_constant=strict) for line in out.read_text().splitlines()]
        assert np.isfinite(np.concatenate([r["data"] for r in rows])).all()


def test_event_lines_are_strict_json_and_whole(tmp_path) -> None:
    from streamser.jsonlines import LineWriter, strict_dumps

    assert strict_dumps({"score": float("nan"), "x": [float("inf"), 1.5]}) == \
        '{"score": null, "x": [null, 1.5]}'
    path = tmp_path / "ev.jsonl"
    writer = LineWriter(str(path))
    writer.write('{"event": "cry_start"}')

    class DiskFull:  # writes half of what it is given, then the disk is full
        def __init__(self, fh) -> None:
            self.fh, self.calls = fh, 0

        def write(self, data) -> int:
            self.calls += 1
            if self.calls == 1:
                return self.fh.write(bytes(data[:7]))
            raise OSError(28, "No space left on device")

        def __getattr__(self, name: str):
            return getattr(self.fh, name)

    writer._fh = DiskFull(writer._fh)
    with pytest.raises(OSError, match="No space"):
        writer.write('{"event": "cry_end", "t": 1.0}')
    writer._fh = writer._fh.fh
    writer.write('{"event": "cry_start", "t": 2.0}')   # space again: whole lines only
    writer.close()
    assert path.read_text().splitlines() == ['{"event": "cry_start"}',
                                             '{"event": "cry_start", "t": 2.0}']


def test_read_error_ends_the_stream_then_fails(tmp_path, cry_clip) -> None:
    """A truncated FLAC: the frames before the damage flow and are flushed (an open
    episode would be closed), then the run fails with one line naming the source."""
    broken = tmp_path / "cut.flac"
    data = cry_clip.read_bytes()
    broken.write_bytes(data[:len(data) // 2])
    out = tmp_path / "o.npy"
    graph = build_graph({"name": "g", "nodes": {
        "src": {"plugin": "source.file", "params": {"path": str(broken), "block": 1000}},
        "out": {"plugin": "sink.npy", "input": "src", "params": {"path": str(out)}}}})
    for executor in ("inline", "threads"):
        with pytest.raises(SourceError, match="node 'src' failed"):
            run(graph, executor)
        assert 0 < len(np.load(out)) < sf.info(str(cry_clip)).frames


def test_children_do_not_import_from_the_working_directory(tmp_path) -> None:
    """A `click.py` in the directory a processes run starts from is never imported."""
    import subprocess
    import sys
    from pathlib import Path

    marker = tmp_path / "imported"
    (tmp_path / "click.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    config = tmp_path / "g.yaml"
    config.write_text(json.dumps({"name": "g", "nodes": {
        "src": {"plugin": "source.synth", "params": {"signal": "noise", "duration": 0.2}},
        "out": {"plugin": "sink.npy", "input": "src", "params": {"path": "o.npy"}}}}))
    script = Path(sys.executable).parent / "streamser"
    res = subprocess.run([str(script), "run", str(config), "-x", "processes", "-q"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "o.npy").exists()      # relative paths still resolve in the cwd
    assert not marker.exists()


def test_partitions_claim_different_cores() -> None:
    """Running partitions pin their node threads to cores no other one holds; a core
    is free again once its partition ends."""
    from streamser.executors.sockets import claim_cpu

    cores = [90_001, 90_000]          # lock files only: the numbers need not exist
    first, a = claim_cpu(cores)
    second, b = claim_cpu(cores)      # another claimant gets the other core
    shared, none = claim_cpu(cores)   # all held: shared, by process id, no lock
    try:
        assert (first, second) == (90_001, 90_000)
        assert shared in cores and none is None
        assert a is not None
        a.close()                     # that partition ended
        again, c = claim_cpu(cores)
        assert again == 90_001 and c is not None
        c.close()
    finally:
        for fh in (a, b):
            if fh is not None:
                fh.close()


@pytest.mark.parametrize("executor", ["inline", "processes"])
def test_closed_standard_output_stops_the_run_quietly(executor, tmp_path) -> None:
    """``streamser run ... --events - | head -1``: when the reader goes away the run stops
    with exit 0 and no error line, as a Unix filter does (even where on_error is drop)."""
    import subprocess
    import sys

    import numpy as np
    import soundfile as sf

    from conftest import ROOT, data_file, free_port
    cry, rate = sf.read(data_file("babycry_esc/crying/1-211527-A.flac"), dtype="float32")
    long = tmp_path / "cries.flac"                # a real cry, again and again: 2 minutes
    sf.write(long, np.tile(np.concatenate([cry, np.zeros(rate, np.float32)]), 20), rate)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamser", "run", str(ROOT / "configs" / "cry_robot.yaml"),
         "--input", str(long), "--events", "-", "-q", "-x", executor,
         "--set", f"publish.endpoint=tcp://127.0.0.1:{free_port()}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert first["event"] == "cry_start"
    proc.stdout.close()                     # the reader goes away
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "error" not in err and "BrokenPipe" not in err, err
