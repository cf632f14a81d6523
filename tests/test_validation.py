"""`streamser validate` rejects each class of broken graph with one clear line, exit 2."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import cli

GOOD = """\
name: ok
nodes:
  src:  {plugin: source.synth, params: {duration: 0.5}}
  gain: {plugin: filter.gain, input: src, params: {db: -6}}
  out:  {plugin: sink.npy, input: gain, params: {path: out.npy}}
"""

# (case, yaml, expected line, text the message must contain)
BROKEN = [
    ("unknown plugin", GOOD.replace("filter.gain", "filter.gian"), 4,
     ["node 'gain'", "plugin:", "unknown plugin 'filter.gian'", "did you mean 'filter.gain'"]),
    ("unknown input", GOOD.replace("input: gain", "input: gane"), 5,
     ["node 'out'", "input:", "unknown node 'gane'"]),
    ("missing input", GOOD.replace("input: src, ", ""), 4,
     ["node 'gain'", "input:", "missing input"]),
    ("cycle", """\
name: loop
nodes:
  src: {plugin: source.synth}
  a:   {plugin: filter.gain, input: [src, b]}
  b:   {plugin: filter.gain, input: a}
  out: {plugin: sink.npy, input: b, params: {path: o.npy}}
""", 4, ["cycle: ", "a -> b -> a", "input:"]),
    ("kind mismatch", """\
name: kinds
nodes:
  ticks: {plugin: "testnodes:Ticks"}
  gain:  {plugin: filter.gain,
          input: ticks}
  out:   {plugin: sink.npy, input: gain, params: {path: o.npy}}
""", 5, ["node 'gain'", "input:", "'ticks' emits event frames", "accepts only audio"]),
    ("bad param type", GOOD.replace("db: -6", "db: loud"), 4,
     ["node 'gain'", "params.db:", "must be a number", "'loud'"]),
    ("bad param range", GOOD.replace("db: -6", "db: 100"), 4,
     ["node 'gain'", "params.db:", "must be <= 60 (got 100)"]),
    ("unknown param", GOOD.replace("db: -6", "gain: -6"), 4,
     ["node 'gain'", "params.gain:", "unknown param (known: db)"]),
    ("malformed yaml", GOOD.replace("{db: -6}}", "{db: -6}"), 5, ["malformed YAML"]),
    ("source with input", GOOD.replace("{plugin: source.synth,", "{plugin: source.synth, "
                                       "input: out,"), 3,
     ["node 'src'", "input:", "is a source"]),
]


@pytest.mark.parametrize("case,text,line,needles", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_graph_is_one_clear_line(tmp_path: Path, case: str, text: str, line: int,
                                        needles: list[str]) -> None:
    config = tmp_path / "graph.yaml"
    config.write_text(textwrap.dedent(text))
    result = cli("validate", str(config))
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {config}:{line}: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_good_graph_validates(tmp_path: Path) -> None:
    config = tmp_path / "graph.yaml"
    config.write_text(GOOD)
    result = cli("validate", str(config))
    assert result.returncode == 0, result.stderr
    assert "3 nodes, 2 links" in result.stdout


def test_set_override_is_validated(tmp_path: Path) -> None:
    config = tmp_path / "graph.yaml"
    config.write_text(GOOD)
    result = cli("validate", str(config), "--set", "gain.db=500")
    assert result.returncode == 2
    assert "node 'gain': params.db:" in result.stderr and "Traceback" not in result.stderr
    assert cli("validate", str(config), "--set", "nope.db=1").returncode == 2


def test_run_of_broken_graph_exits_2_before_starting(tmp_path: Path) -> None:
    config = tmp_path / "graph.yaml"
    config.write_text(GOOD.replace("db: -6", "db: 100"))
    result = cli("run", str(config), "-x", "processes")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not (tmp_path / "out.npy").exists()
