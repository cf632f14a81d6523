"""Every executor hands fan-in nodes their frames in the same order (executors.ordering)."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import TESTS

from streamser.executors import run
from streamser.executors.ordering import Inbox, last_before, needs_marks, next_epoch
from streamser.frames import Frame
from streamser.graph import build_graph


def diamond(out: str) -> dict:
    """Two sources, branches of varying delay and output count, one 3-input fan-in."""
    def synth(signal: str, duration: float) -> dict:
        return {"plugin": "source.synth", "params": {"signal": signal, "block": 160,
                                                      "duration": duration}}
    return {"name": "diamond", "nodes": {
        "s1": synth("noise", 0.6),
        "s2": synth("sine", 0.35),
        "a": {"plugin": "testnodes:Jitter", "input": "s1"},
        "g": {"plugin": "filter.gain", "input": "s1", "params": {"db": -20}},
        "b": {"plugin": "testnodes:Jitter", "input": "g", "params": {"every": 3}},
        "c": {"plugin": "testnodes:Jitter", "input": "s2", "params": {"every": 2}},
        "order": {"plugin": "testnodes:Order", "input": ["a", "b", "c"]},
        "out": {"plugin": "sink.npy", "input": "order", "params": {"path": out}}}}


@pytest.mark.parametrize("executor,repeat", [("threads", 3), ("processes", 1)])
def test_fan_in_order_is_the_same_in_every_executor(tmp_path, monkeypatch, executor,
                                                    repeat) -> None:
    monkeypatch.setenv("PYTHONPATH", str(TESTS))  # the test nodes, for child processes
    ref = tmp_path / "inline.npy"
    run(build_graph(diamond(str(ref))), "inline")
    want = np.load(ref)
    assert len(want) > 100
    for i in range(repeat):
        out = tmp_path / f"{executor}{i}.npy"
        run(build_graph(diamond(str(out))), executor)
        assert np.load(out).tobytes() == want.tobytes()


def test_inline_takes_a_fan_in_inputs_epoch_by_epoch_in_input_order(tmp_path) -> None:
    out = tmp_path / "o.npy"
    run(build_graph(diamond(str(out))), "inline")
    t, x = np.load(out)[:8].T
    # epoch (0, 0): a doubles s1's first frame; (0, 1): c drops s2's; (1, 0): a; (1, 1): c
    assert list(t[:4]) == [0.0, 0.0, 0.01, 0.01]
    assert x[0] == x[1] and x[3] == pytest.approx(0.1 * np.sin(2 * np.pi * 440 * 0.01), rel=1e-4)
    # epoch (2, 0): a's two frames, then b's two (s1 at -20 dB): input order a, b, c
    assert list(t[4:8]) == [0.02] * 4
    assert x[6] == pytest.approx(x[4] * 0.1, rel=1e-5) and x[7] == x[6]


def test_marks_go_only_where_a_fan_in_is_downstream() -> None:
    graph = build_graph(diamond("x.npy"))
    marks = needs_marks(graph)
    assert marks == {"s1": False, "s2": False, "a": True, "g": True, "b": True, "c": True,
                     "order": True, "out": False}


def test_epoch_arithmetic() -> None:
    assert next_epoch(None, frozenset({1, 3})) == (0, 1)
    assert next_epoch((4, 1), frozenset({1, 3})) == (4, 3)
    assert next_epoch((4, 3), frozenset({1, 3})) == (5, 1)
    assert last_before((5, 1), frozenset({1, 3})) == (4, 3)
    assert last_before((0, 1), frozenset({1, 3})) is None


def test_inbox_releases_an_epoch_once_every_input_is_past_it() -> None:
    sources = {"a": frozenset({0}), "b": frozenset({0}), "x": frozenset({0})}
    box = Inbox(["a", "b"], sources, frozenset({0}))
    f = [Frame("audio", np.zeros(1, np.float32), t=float(i)) for i in range(4)]
    box.frame("b", f[0])
    box.mark("b", (0, 0))
    box.frame("b", f[1])
    box.mark("b", (1, 0))
    assert box.release() == []            # a has not finished epoch 0 yet
    box.frame("a", f[2])
    box.mark("a", (0, 0))
    assert box.release() == [((0, 0), [f[2], f[0]])]   # a before b: input order
    box.mark("a", (0, 0), end=True)
    assert box.release() == [((1, 0), [f[1]])]
    box.mark("b", (2, 0), end=True)
    assert box.done and box.end_epoch == (2, 0)
