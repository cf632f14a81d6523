"""The cry robot gives byte-identical events and scores in every executor on a real
stream (inline, threads, processes over tcp, and split in two `streamser node` processes
over tcp): cries among speech and noise, with the need guess on every cry_end."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA, ROOT, cli, free_port

from streamser.graph import read_graph

CONFIG = str(ROOT / "configs" / "cry_robot_scores.yaml")


@pytest.fixture(scope="session")
def real_stream(tmp_path_factory) -> Path:
    """Two minutes of real recordings strung together by ``streamser mkstream``."""
    manifests = sorted(str(p) for p in DATA.glob("*/manifest.csv"))
    if not manifests:
        pytest.skip(f"real audio not found at {DATA} (set STREAMSER_DATA)")
    out = tmp_path_factory.mktemp("stream") / "real.flac"
    res = cli("mkstream", *manifests, "--minutes", "2", "--test-k", "5", "--out", str(out),
              timeout=120)
    assert res.returncode == 0, res.stderr
    return out


def _run(stream: Path, out: Path, *args: str) -> tuple[bytes, bytes]:
    out.mkdir()
    res = cli("run", CONFIG, "--input", str(stream), "--events", str(out / "ev.jsonl"), "-q",
              "--set", f"scores.path={out / 'scores.jsonl'}",
              "--set", f"publish.endpoint=ipc://{out / 'pub'}", *args, timeout=300)
    assert res.returncode == 0, res.stderr
    return (out / "ev.jsonl").read_bytes(), (out / "scores.jsonl").read_bytes()


def _split(stream: Path, out: Path) -> tuple[bytes, bytes]:
    """The need branch in one `streamser node`, the rest in another, over tcp."""
    out.mkdir()
    graph, _ = read_graph(CONFIG)                       # its extends applied
    graph["nodes"]["mic"] = {"plugin": "source.file", "params": {"path": str(stream),
                                                                 "block": 4096}}
    graph["nodes"]["needgate"]["endpoint"] = f"tcp://127.0.0.1:{free_port()}"
    graph["nodes"]["merge"]["endpoint"] = f"tcp://127.0.0.1:{free_port()}"
    graph["nodes"]["events"]["params"]["path"] = str(out / "ev.jsonl")
    graph["nodes"]["scores"]["params"]["path"] = str(out / "scores.jsonl")
    graph["nodes"]["publish"]["params"]["endpoint"] = f"ipc://{out / 'pub'}"
    config = out / "split.json"
    config.write_text(json.dumps(graph))
    branch = ["needgate", "need"]
    rest = ",".join(n for n in graph["nodes"] if n not in branch)
    need = subprocess.Popen([sys.executable, "-m", "streamser", "node", str(config), "--only",
                             ",".join(branch), "-q"], stderr=subprocess.PIPE, text=True)
    res = cli("node", str(config), "--only", rest, "-q", timeout=300)
    assert res.returncode == 0, res.stderr
    assert need.wait(timeout=60) == 0, need.stderr.read() if need.stderr else ""
    return (out / "ev.jsonl").read_bytes(), (out / "scores.jsonl").read_bytes()


def test_cry_robot_events_identical_in_every_executor(tmp_path, real_stream) -> None:
    events, scores = _run(real_stream, tmp_path / "inline")
    ends = [e for e in map(json.loads, events.splitlines()) if e["event"] == "cry_end"]
    assert len(ends) >= 3
    # every cry_end carries the need guess (its label is null when cry-need-cal abstains)
    assert all(e.get("label_scores") for e in ends), "a cry_end without the need guess"
    for name, args in {"threads": ("-x", "threads"),
                       "tcp": ("-x", "processes", "--transport", "tcp")}.items():
        got_events, got_scores = _run(real_stream, tmp_path / name, *args)
        assert got_events == events, name
        assert got_scores == scores, name
    assert _split(real_stream, tmp_path / "split") == (events, scores)
