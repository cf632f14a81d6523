"""What a new user tripped on (issue 26, section 5), one test per item: synth inputs end,
validating needs no microphone, plugins beside the graph import, messages name the
option and suggest the near miss, -q prints each event once, keys are not overwritten."""
from __future__ import annotations

import importlib.util
import json
import textwrap

import pytest
from conftest import ROOT, cli, free_port

from streamser.graph import GraphError, build_graph, load_graph

ROBOT = str(ROOT / "configs" / "cry_robot.yaml")
EMOTION = str(ROOT / "configs" / "emotion.yaml")


def test_synth_input_has_a_default_length_and_the_emotion_demo_names_an_emotion() -> None:
    """5.1: ``--input synth:NAME`` ends (10 s unless --set says otherwise), and the
    README's emotion demo prints an emotion."""
    res = cli("run", EMOTION, "--input", "synth:cry_scene", "--events", "-", "-q",
              "--set", f"publish.endpoint=tcp://127.0.0.1:{free_port()}", timeout=120)
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert events and all(e["event"] == "emotion" for e in events), res.stdout
    assert all(e["end"] <= 10.0 for e in events)
    graph = load_graph(EMOTION, input="synth:noise")
    assert graph.nodes["mic"].params.duration == 10.0
    assert load_graph(EMOTION, input="synth:noise", sets=["mic.duration=2.5"]
                      ).nodes["mic"].params.duration == 2.5
    assert load_graph(EMOTION, input="synth:noise", sets=["mic.duration=null"]
                      ).nodes["mic"].params.duration is None


def test_validating_or_drawing_needs_no_microphone(monkeypatch, tmp_path) -> None:
    """5.2: without pyaudio, ``validate`` and ``graph`` warn; ``run`` refuses."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyaudio" else real(name, *a))
    graph = load_graph(ROBOT, missing_packages="warn")
    assert len(graph.warnings) == 1 and "node 'mic': plugin: source.mic needs pyaudio" \
        in graph.warnings[0]
    with pytest.raises(GraphError, match="source.mic needs pyaudio"):
        load_graph(ROBOT)
    assert not load_graph(ROBOT, input="synth:cry_scene").warnings   # no microphone left
    for cmd in (("validate", ROBOT, "--input", "synth:cry_scene"),
                ("graph", ROBOT, "--input", "synth:noise", "--out", str(tmp_path / "g.dot"))):
        res = cli(*cmd)
        assert res.returncode == 0, res.stderr
    assert '"mic" [label="mic\\nsource.synth"' in (tmp_path / "g.dot").read_text()


def test_plugin_beside_the_graph_file_imports_in_every_executor(tmp_path, cry_clip) -> None:
    """5.3: ``plugin: mypackage.clip:Clip`` with mypackage/ beside the graph file (or in
    the working directory), as ``python -m`` would find it."""
    pkg = tmp_path / "graphs" / "mypackage"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "clip.py").write_text(textwrap.dedent('''\
        from pydantic import Field
        from streamser.frames import Frame
        from streamser.node import Node, Params

        class ClipParams(Params):
            limit: float = Field(0.5, gt=0, le=1, description="Clip level.")

        class Clip(Node):
            """Hard-clip audio at a level."""
            Params = ClipParams
            inputs = ("audio",)
            outputs = ("audio",)

            def process(self, frame: Frame) -> list[Frame]:
                lim = self.params.limit
                return [frame.derive(frame.data.clip(-lim, lim))]
        '''))
    config = tmp_path / "graphs" / "g.yaml"
    config.write_text(textwrap.dedent(f"""\
        name: clip
        nodes:
          src:  {{plugin: source.file, params: {{path: {cry_clip}}}}}
          clip: {{plugin: mypackage.clip:Clip, input: src, params: {{limit: 0.01}}}}
          out:  {{plugin: sink.npy, input: clip, params: {{path: out.npy}}}}
        """))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    import numpy as np
    for executor in ("inline", "processes"):
        res = cli("run", str(config), "-q", "-x", executor, cwd=elsewhere)
        assert res.returncode == 0, res.stderr
        assert np.abs(np.load(elsewhere / "out.npy")).max() <= 0.01
    # from the working directory too
    moved = tmp_path / "cwd" / "mypackage"
    pkg.rename(moved)
    assert cli("validate", str(config), cwd=elsewhere).returncode == 0
    res = cli("validate", str(config), cwd=tmp_path)
    assert res.returncode == 2 and "No module named 'mypackage'" in res.stderr
    assert "searched the installed packages, then" in res.stderr


def test_near_misses_are_suggested_and_the_input_is_named(tmp_path) -> None:
    """5.10: did you mean (params, inputs, --set nodes); a file replacing ``mic`` is
    called --input in errors; a 0-byte file is empty."""
    graph = {"name": "g", "nodes": {
        "src": {"plugin": "source.synth", "params": {"duraton": 1}},
        "gain": {"plugin": "filter.gain", "input": "scr"},
        "out": {"plugin": "sink.npy", "input": "gain", "params": {"path": "o.npy"}}}}
    with pytest.raises(GraphError) as err:
        build_graph(graph)
    text = str(err.value)
    assert "unknown param (did you mean 'duration'? known:" in text
    assert "unknown node 'scr' (did you mean 'src'?)" in text
    with pytest.raises(GraphError, match=r"no node named 'gian' \(did you mean 'gain'\?\)"):
        build_graph({**graph, "nodes": {**graph["nodes"], "src": {"plugin": "source.synth"},
                                        "gain": {"plugin": "filter.gain", "input": "src"}}},
                    sets=["gian.db=3"])
    res = cli("validate", ROBOT, "--input", str(tmp_path / "nothere.flac"))
    assert res.returncode == 2
    assert f"--input {tmp_path / 'nothere.flac'}: no such file" in res.stderr
    assert "'mic'" not in res.stderr
    bad = tmp_path / "bad.wav"                        # a file that fails when it is read
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" * 4)
    for executor in ("inline", "processes"):
        res = cli("run", ROBOT, "--input", str(bad), "-q", "-x", executor,
                  "--set", f"publish.endpoint=tcp://127.0.0.1:{free_port()}", timeout=120)
        assert res.returncode == 1 and res.stderr.startswith(f"error: --input {bad}: ")
        assert "'mic'" not in res.stderr and len(res.stderr.splitlines()) == 1


def test_quiet_prints_each_event_once(tmp_path) -> None:
    """5.10: ``--events - -q`` on a terminal: the events on standard output, nothing on
    standard error (sink.console is left out under -q)."""
    res = cli("run", str(ROOT / "configs" / "cry_scene_demo.yaml"), "--events", "-", "-q")
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert events and res.stderr == ""
    loud = cli("run", str(ROOT / "configs" / "cry_scene_demo.yaml"), "--events", "-")
    assert sum('"cry_start"' in line for line in loud.stderr.splitlines()) == \
        sum(e["event"] == "cry_start" for e in events)


def test_keys_are_not_overwritten_and_not_committed(tmp_path) -> None:
    """5.5: ``streamser keys DIR`` refuses to replace a pair without --force; key files
    are ignored by git."""
    assert cli("keys", str(tmp_path / "keys")).returncode == 0
    secret = tmp_path / "keys" / "streamser.key_secret"
    before = secret.read_bytes()
    res = cli("keys", str(tmp_path / "keys"))
    assert res.returncode == 1 and "exists" in res.stderr and "--force" in res.stderr
    assert secret.read_bytes() == before
    assert cli("keys", str(tmp_path / "keys"), "--force").returncode == 0
    assert secret.read_bytes() != before
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "*.key_secret" in ignored and "keys/" in ignored


def test_eval_leaves_out_the_training_clips(tmp_path) -> None:
    """5.6: a model's own training clips are not scored unless asked; the clips of the
    fixed test split a recipe held out are."""
    import csv

    from conftest import data_file

    from streamser.train.splits import is_test_group
    emodb = data_file("emodb/manifest.csv")
    res = cli("eval", "emodb-ser", "--data", str(emodb), "-q", timeout=300)
    clips = len(emodb.read_text().splitlines()) - 1
    assert res.returncode == 1
    assert f"all {clips} clips of {emodb} were in emodb-ser's training" in res.stderr
    res = cli("eval", "emodb-ser", "--data", str(emodb), "-q", "--include-training",
              timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"note: {clips} of the {clips} clips were in emodb-ser's training" in res.stdout
    esc = data_file("babycry_esc/manifest.csv")
    with open(esc, newline="") as fh:
        groups = [row["group"] for row in csv.DictReader(fh)]
    held_out = sum(is_test_group(g, 5) for g in groups)
    pytest.importorskip("torch", reason="cry-detector's label map is in its checkpoint")
    res = cli("eval", "cry-detector", "--data", str(esc), "-q", timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"trained on {len(groups) - held_out} of the {len(groups)} clips" in res.stdout
    assert f"scoring the other {held_out}" in res.stdout and f"(n = {held_out})" in res.stdout


def test_a_missing_model_is_named_under_its_param_with_its_path(tmp_path) -> None:
    """5.10: under ``params.model``, on its line, with the path looked for (a file) or
    the near miss (a bundled name)."""
    config = tmp_path / "g.yaml"
    config.write_text(textwrap.dedent("""\
        name: g
        nodes:
          src:  {plugin: source.synth}
          mel:  {plugin: features.logmel, input: src}
          win:  {plugin: window.patch, input: mel}
          a:
            plugin: infer
            input: win
            params:
              model: models/mine.onnx
          b:    {plugin: infer, input: win, params: {model: cry-detektor}}
          out:  {plugin: sink.npy, input: [a, b], params: {path: o.npy}}
        """))
    with pytest.raises(GraphError) as err:
        load_graph(config)
    lines = err.value.lines()
    assert lines[0] == (f"{config}:10: node 'a': params.model: no such model file: "
                        f"{tmp_path / 'models' / 'mine.onnx'}")
    assert lines[1].startswith(f"{config}:11: node 'b': params.model: 'cry-detektor' is "
                               "neither a model file nor a bundled model (did you mean "
                               "'cry-detector'?")


def test_architectures_listed_without_torch(tmp_path) -> None:
    """5.8: ``streamser models --archs`` reads the model modules' source: with torch
    blocked it lists the same architectures, described as the classes describe
    themselves."""
    import os
    import subprocess
    import sys
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "torch.py").write_text("raise ImportError('torch blocked by a test')\n")
    res = subprocess.run([sys.executable, "-m", "streamser", "models", "--archs"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(blocker)})
    assert res.returncode == 0, res.stderr
    listed = dict(line.split(None, 1) for line in res.stdout.splitlines())
    pytest.importorskip("torch", reason="compares with the classes themselves")
    from streamser.models import ARCHITECTURES
    for name, cls in ARCHITECTURES.items():
        doc = cls.__doc__ or sys.modules[cls.__module__].__doc__ or ""
        assert listed[name] == " ".join(doc.strip().split("\n\n")[0].split()), name
    assert set(listed) == set(ARCHITECTURES) | {"svm", "majority"}


def test_graph_pictures_import_matplotlib_only_for_pixels(tmp_path) -> None:
    """5.8: .dot and .svg are laid out and written without matplotlib (or torch); .png
    draws the same layout with it."""
    import subprocess
    import sys
    code = ("import sys; from streamser.cli import main; sys.argv = ['streamser', 'graph', "
            f"{ROBOT!r}, '--out', sys.argv[1]]\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('matplotlib', 'torch') if m in sys.modules))")
    for suffix, imported in ((".svg", "[]"), (".dot", "[]"), (".png", "['matplotlib']")):
        out = tmp_path / f"g{suffix}"
        res = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        assert res.stdout.splitlines()[-1] == imported, (suffix, res.stdout)
    import xml.dom.minidom
    svg = xml.dom.minidom.parse(str(tmp_path / "g.svg"))
    texts = [t.firstChild.data for t in svg.getElementsByTagName("text")]
    assert "cry_robot" in texts and "detect_y" in texts and "gate.scores" in texts
    assert len(svg.getElementsByTagName("rect")) == len(load_graph(ROBOT).nodes)
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_utterance_training_writes_to_a_user_path(tmp_path) -> None:
    """5.11: the bundled model is not overwritten by accident; the train extra brings
    skl2onnx."""
    import subprocess
    import sys

    from streamser.zoo import ZOO
    bundled = ZOO / "emodb-ser.onnx"
    before = bundled.stat().st_mtime_ns
    res = subprocess.run([sys.executable, "-m", "streamser.train.utterance",
                          str(ROOT / "configs" / "train" / "emodb-ser.yaml"), "--out",
                          str(bundled)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "would replace the bundled model emodb-ser.onnx" \
        in res.stderr and "default runs/NAME.onnx" in res.stderr
    assert bundled.stat().st_mtime_ns == before
    import tomllib
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any(d.startswith("skl2onnx") for d in extras["train"])
