"""Per-stream state is bounded: idle streams expire, the number of streams is capped."""
from __future__ import annotations

import numpy as np
import pytest

from streamser.frames import Frame
from streamser.graph import GraphError, build_graph
from streamser.streams import StreamStates, expired_count


def test_idle_streams_expire_and_the_count_is_capped() -> None:
    now = [0.0]
    states: StreamStates[int] = StreamStates(idle=10.0, cap=3, clock=lambda: now[0])
    for i, s in enumerate("abcd"):
        states[s] = i
    assert list(states) == ["b", "c", "d"] and states.expired == 1   # over the cap: LRU
    now[0] = 5.0
    assert states["b"] == 1                                          # a read refreshes b
    now[0] = 12.0
    states["e"] = 4                                                  # c, d idle > 10 s
    assert list(states) == ["b", "e"] and states.expired == 3


def test_twenty_thousand_stream_ids_do_not_grow_a_node() -> None:
    graph = build_graph({"name": "g", "streams": {"idle": 60, "max": 100}, "nodes": {
        "src": {"plugin": "source.synth", "params": {"signal": "noise"}},
        "vad": {"plugin": "vad.energy", "input": "src"}}})
    node = graph.nodes["vad"].build()
    node.start()
    for i in range(20_000):
        node.process(Frame("audio", np.zeros(160, np.float32), t=0.0, stream=f"robot-{i}",
                           meta={"sample_rate": 16000}))
    assert len(node._streams) == 100
    assert expired_count(node) == 19_900


@pytest.mark.parametrize("value", [{"idle": 0}, {"max": 0}, {"idle": "x"}, {"other": 1}, 5])
def test_stream_limits_are_validated(value) -> None:
    with pytest.raises(GraphError, match="streams: must be"):
        build_graph({"name": "g", "streams": value, "nodes": {
            "src": {"plugin": "source.synth", "params": {"signal": "noise"}}}})
