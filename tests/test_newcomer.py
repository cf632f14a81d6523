"""A newcomer's first hour (issue 18): quiet output, validation before the run (sample
rates, missing packages and models), paths relative to the graph file, plain messages,
every architecture and param described, eval without torch."""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA, ROOT, cli, free_port

from streamser.graph import GraphError, load_graph
from streamser.registry import available, load


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_validate_names_a_rate_mismatch_and_missing_model_before_running(tmp_path) -> None:
    sf.write(tmp_path / "cd.wav", np.zeros(44100, np.float32), 44100)
    config = write(tmp_path / "g.yaml", """\
        name: g
        nodes:
          src: {plugin: source.file, params: {path: cd.wav}}
          mel: {plugin: features.logmel, input: src}
          vad: {plugin: vad.silero, input: src}
          inf: {plugin: infer, input: mel, params: {model: no-such-model}}
          odd: {plugin: "testnodes:NeedsMissing", input: src}
          out: {plugin: sink.npy, input: inf, params: {path: o.npy}}
        """)
    res = cli("validate", str(config))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert [ln.split(":")[2] for ln in lines] == ["4", "5", "6", "7"], lines   # by line
    assert "node 'mel': input: needs 16000 Hz audio, gets 44100 Hz" in lines[0]
    assert "node 'vad': input: takes 8 or 16 kHz audio, gets 44100 Hz" in lines[1]
    assert "node 'inf': params.model: 'no-such-model' is neither a model file nor a " \
        "bundled model (bundled: " in lines[2]
    # validating needs no optional package: a warning there, an error for run
    assert lines[3].startswith("warning: ") and \
        "streamser_no_such_package, which is not installed: pip install" in lines[3]
    run = cli("run", str(config)).stderr.splitlines()
    assert run[3].startswith("error: ") and "streamser_no_such_package" in run[3]
    assert not (tmp_path / "o.npy").exists()
    # a resample node in between makes the rate problems go away
    fixed = config.read_text().replace("input: src}", "input: rs}").replace(
        "  mel:", "  rs:  {plugin: resample, input: src}\n  mel:")
    config.write_text(fixed)
    res = cli("validate", str(config))
    assert "Hz" not in res.stderr and "no-such-model" in res.stderr


def test_silero_needs_nothing_but_streamser(cry_clip: Path) -> None:
    from streamser.plugins.vad.silero import MODEL, SileroVad
    assert MODEL.is_file() and MODEL.parent.name == "zoo"
    assert "silero_vad.onnx" in (MODEL.parent / "NOTICE").read_text()
    assert SileroVad.requirements(SileroVad.Params()) == []
    node = SileroVad(SileroVad.Params(), "vad")
    node.start()                           # onnxruntime and the bundled model only
    node.stop()


def test_paths_in_a_graph_file_are_relative_to_its_folder(tmp_path, cry_clip,
                                                          monkeypatch) -> None:
    graphs = tmp_path / "graphs"
    (graphs / "audio").mkdir(parents=True)
    (graphs / "audio" / "clip.flac").symlink_to(cry_clip)
    config = write(graphs / "g.yaml", """\
        name: rel
        nodes:
          src: {plugin: source.file, params: {path: audio/clip.flac}}
          out: {plugin: sink.npy, input: src, params: {path: out/x.npy}}
        """)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    res = cli("run", str(config), "-q", cwd=elsewhere)
    assert res.returncode == 0, res.stderr
    assert (elsewhere / "out" / "x.npy").is_file()          # outputs: the current directory
    # --set and --input values are relative to the current directory
    (elsewhere / "mine.flac").symlink_to(cry_clip)
    assert cli("validate", str(config), "--set", "src.path=mine.flac",
               cwd=elsewhere).returncode == 0
    monkeypatch.chdir(elsewhere)
    assert load_graph(config, input="mine.flac").nodes["src"].params.path == \
        str(elsewhere / "mine.flac")
    assert cli("validate", str(config), "--set", "src.path=audio/clip.flac",
               cwd=elsewhere).returncode == 2
    # the processes executor's children see the same files
    res = cli("run", str(config), "-q", "-x", "processes", cwd=elsewhere)
    assert res.returncode == 0, res.stderr
    # bundled model names are not paths
    graph = load_graph(ROOT / "configs" / "cry_robot.yaml")
    assert graph.nodes["detect"].params.model == "cry-head"
    assert load_graph(ROOT / "configs" / "cry_robot_quiet.yaml").nodes[
        "detect"].params.model == "cry-head"
    assert graph.nodes["need"].params.model == "cry-need-cal"


def test_runs_print_no_third_party_log_lines(tmp_path, cry_clip) -> None:
    args = ("run", str(ROOT / "configs" / "cry_robot.yaml"), "--input", str(cry_clip),
            "--events", str(tmp_path / "e.jsonl"), "-q",
            "--set", f"publish.endpoint=tcp://127.0.0.1:{free_port()}")
    res = cli(*args, "-x", "processes", timeout=120)
    assert res.returncode == 0, res.stderr
    assert "XNNPACK" not in res.stderr and "INFO:" not in res.stderr, res.stderr
    loud = cli("-v", *args, timeout=120)
    assert loud.returncode == 0 and "XNNPACK" in loud.stderr


def test_every_param_and_architecture_is_described() -> None:
    from streamser.node import param_table
    for name in available():
        for row in param_table(load(name)):
            assert row["doc"], (name, row["name"])
            assert row["type"] != "Literal", (name, row["name"])
    rows = {r["name"]: r for r in param_table(load("infer"))}
    assert rows["backend"]["type"] == "one of 'auto', 'onnx', 'tflite', 'torch'"
    pytest.importorskip("torch")
    res = cli("models", "--archs")
    assert res.returncode == 0
    for line in res.stdout.splitlines():
        assert len(line.split(None, 1)) == 2, line


def test_messages_are_in_our_words_and_sorted(tmp_path) -> None:
    config = write(tmp_path / "g.yaml", """\
        name: g
        nodes:
          src:  {plugin: source.synth, params: {signal: chirp, duration: 1}}
          gain: {plugin: filter.gain, input: src, params: {db: 100, colour: red}}
          out:  {plugin: sink.npy, input: gain, params: {path: o.npy}}
        """)
    with pytest.raises(GraphError) as err:
        load_graph(config)
    text = "\n".join(err.value.lines())
    for pydantic_words in ("Value error", "Input should", "Extra inputs", "less than"):
        assert pydantic_words not in text, text
    assert "must be one of 'sine', 'noise', 'silence', 'cry_scene' (got 'chirp')" in text
    assert "must be <= 60 (got 100)" in text and "unknown param (known: db)" in text
    assert [p.line for p in err.value.problems] == sorted(p.line for p in err.value.problems)


def test_eval_runs_a_bundled_onnx_model_without_torch(tmp_path) -> None:
    manifest = DATA / "donateacry" / "manifest.csv"
    if not manifest.is_file():
        pytest.skip(f"real audio not found at {manifest} (set STREAMSER_DATA)")
    rows = manifest.read_text().splitlines()
    small = tmp_path / "manifest.csv"
    small.write_text("\n".join(rows[:1] + rows[1::40]) + "\n")
    for rel in {ln.split(",")[0] for ln in rows[1::40]}:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).symlink_to(manifest.parent / rel)
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "torch.py").write_text("raise ImportError('torch blocked by a test')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    import subprocess
    import sys
    res = subprocess.run([sys.executable, "-m", "streamser", "eval", "cry-need", "--data",
                          str(small), "--json", str(tmp_path / "e.json"), "-q",
                          "--include-training"],                 # its training clips
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert 0.0 <= json.loads((tmp_path / "e.json").read_text())["ua"] <= 1.0


def test_fastest_build_is_measured_once_per_machine(tmp_path, monkeypatch) -> None:
    from streamser.plugins.infer import fastest as fb
    monkeypatch.setenv("STREAMSER_CACHE", str(tmp_path))
    calls: list[str] = []
    real = fb.seconds_per_step

    def counted(path: Path, threads: int = 1) -> float:
        calls.append(path.name)
        return real(path, threads)
    monkeypatch.setattr(fb, "seconds_per_step", counted)
    first = fb.fastest("cry-need")
    assert sorted(calls) == ["cry-need.int8.tflite", "cry-need.onnx"]
    assert fb.fastest("cry-need") == first and len(calls) == 2      # remembered
    assert first.name in (tmp_path / "fastest-build.json").read_text()
    graph = tmp_path / "need.yaml"      # the cry robot's need node is classify.utterance now
    graph.write_text("""name: need_fastest
nodes:
  src:  {plugin: source.synth, params: {signal: cry_scene, sample_rate: 16000, duration: 1.0}}
  is09: {plugin: features.is09, input: src}
  need: {plugin: infer, input: is09, params: {model: cry-need, every: 25}}
  out:  {plugin: sink.jsonl, input: need, params: {path: "-"}}
""")
    res = cli("validate", str(graph), "--set", "need.build=fastest")
    assert f"need: {first.name} (measured fastest on this machine)" in res.stdout
