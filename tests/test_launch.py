"""``streamser launch``: a one-line pipeline runs as the graph file it stands for (a
straight chain, and named branches with fan-out and fan-in), ``--print-yaml`` writes that
file, and every problem is one line with its column."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import cli

from streamser.graph import GraphError, build_graph
from streamser.launch import FILE, parse, to_yaml, tokens

CHAIN = ("source.file path={audio} ! vad.energy mode=annotate ! features.logmel ! "
         "window.patch frames=96 hop=48 ! infer model=cry-yamnet ! "
         "smooth.hysteresis label=cry ! sink.events path={out}")
#: cry_robot's two detectors: patches fan out to both, merge.mean takes them in order.
BRANCHES = ("source.file path={audio} ! features.logmel ! window.patch name=p ! "
            "infer model=cry-yamnet ! merge.mean name=m 'models=[cry-yamnet, cry-detector]' "
            "'weights=[0.3, 0.7]' ! smooth.hysteresis label=cry on_threshold=0.9 ! "
            "sink.events path={out}   p. ! infer model=cry-detector ! m.")


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("line", [CHAIN, BRANCHES], ids=["chain", "branches"])
def test_a_launch_line_runs_as_its_graph_file(line, tmp_path, cry_clip) -> None:
    audio = tmp_path / "cry.flac"
    audio.symlink_to(cry_clip)
    res = cli("launch", line.format(audio="cry.flac", out="launched.jsonl"), "-q",
              cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    launched = events(tmp_path / "launched.jsonl")
    assert launched and launched[0]["event"] == "cry_start"
    printed = cli("launch", line.format(audio="cry.flac", out="filed.jsonl"), "--print-yaml",
                  cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    (tmp_path / "g.yaml").write_text(printed.stdout)
    res = cli("run", str(tmp_path / "g.yaml"), "-q", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert events(tmp_path / "filed.jsonl") == launched


def test_branches_become_inputs_in_the_order_written(tmp_path) -> None:
    raw, _ = parse(BRANCHES.format(audio="a.wav", out="e.jsonl"))
    nodes = raw["nodes"]
    assert list(nodes) == ["source", "features", "p", "infer", "m", "smooth", "sink",
                           "infer2"]
    assert nodes["infer2"] == {"plugin": "infer", "input": "p",
                               "params": {"model": "cry-detector"}}
    assert nodes["m"]["input"] == ["infer", "infer2"]
    assert nodes["m"]["params"] == {"models": ["cry-yamnet", "cry-detector"],
                                    "weights": [0.3, 0.7]}
    assert yaml.safe_load(to_yaml(raw)) == raw


def test_values_are_yaml_scalars_lists_and_mappings_else_text() -> None:
    raw, _ = parse("source.synth duration=1.5 realtime=true seed=3 ! sink.events path=- ! "
                   "x.y:Z a=[1,2] 'b={k: v}' c='x: y' d=null")
    assert raw["nodes"]["source"]["params"] == {"duration": 1.5, "realtime": True, "seed": 3}
    assert raw["nodes"]["sink"]["params"] == {"path": "-"}
    assert raw["nodes"]["z"]["params"] == {"a": [1, 2], "b": {"k": "v"}, "c": "x: y",
                                           "d": None}


def test_words_and_quotes() -> None:
    assert tokens("a k='x y'!b  \"c d\"") == [("a", 1), ("k=x y", 3), ("!", 10), ("b", 11),
                                             ("c d", 14)]
    with pytest.raises(GraphError, match="unclosed '"):
        tokens("a k='x")


@pytest.mark.parametrize("line,column,message", [
    ("source.synth duration=1 ! filter.gain db=100 ! sink.npy path=o.npy", 39,
     "node 'filter': params.db: must be <= 60 (got 100)"),
    ("source.synth duraton=1 ! sink.npy path=o.npy", 14,
     "node 'source': params.duraton: unknown param (did you mean 'duration'?"),
    ("source.synth ! filter.gian ! sink.npy path=o.npy", 16,
     "node 'filter': plugin: unknown plugin 'filter.gian' (did you mean 'filter.gain'?)"),
    ("source.synth ! sink.npy path=o.npy  src. ! sink.console", 37,
     "'src.' names no element; name one with name=src"),
    ("source.synth ! ! sink.console", 16, "'!' needs an element before it"),
    ("source.synth ! sink.console !", 29, "the line ends with '!'"),
    ("source.synth ! features.logmel ! smooth.hysteresis", 32,
     "node 'smooth': input: 'features' emits features frames but smooth.hysteresis "
     "accepts only scores"),
])
def test_problems_are_one_line_with_their_column(line, column, message) -> None:
    res = cli("launch", line)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    first = res.stderr.splitlines()[0]
    assert first.startswith(f"error: <launch>:1:{column}: "), first
    assert message in first, first


def test_words_need_no_quotes_and_overrides_apply(tmp_path) -> None:
    res = cli("launch", "source.synth", "signal=noise", "duration=0.5", "!", "sink.npy",
              "path=o.npy", "--set", "source.duration=0.25", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    import numpy as np
    assert len(np.load(tmp_path / "o.npy")) == 4000
    graph = build_graph(*parse("source.synth ! sink.npy path=o.npy"), FILE,
                        input="synth:sine")
    assert graph.nodes["source"].params.duration == 10.0
