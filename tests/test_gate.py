"""gate.scores passes an episode's audio (its first max_seconds) and marks each with a gap."""
from __future__ import annotations

import numpy as np
from streamser.plugins.gate import GateScores

from streamser.frames import Frame

RATE = 16000


def _run(on_from: float, on_to: float, max_seconds: float | None) -> list[Frame]:
    gate = GateScores(GateScores.Params(max_seconds=max_seconds), name="g")
    gate.start()
    out: list[Frame] = []
    block = 4000                                   # 0.25 s
    for i in range(80):                            # 20 s of audio
        t = i * block / RATE
        out += gate.process(Frame("audio", np.full(block, i, np.float32), t=t,
                                  meta={"sample_rate": RATE}))
        if i % 2 == 1:                             # scores every 0.5 s over the last 1 s
            upto = t + block / RATE
            cry = 1.0 if on_from <= upto - 0.5 <= on_to else 0.0
            out += gate.process(Frame("scores", np.array([cry, 1 - cry], np.float32),
                                      t=upto - 1.0, meta={"labels": ["cry", "other"],
                                                          "upto": upto}))
    return out


def test_gate_passes_episodes_only_each_starting_with_a_gap() -> None:
    out = _run(5.0, 9.0, None)
    assert out and all(f.kind == "audio" for f in out)
    start, end = out[0].t, out[-1].t + len(out[-1].data) / RATE
    assert 3.5 <= start <= 5.5 and 8.5 <= end <= 10.5
    assert out[0].meta["gap"] is True and not any(f.meta.get("gap") for f in out[1:])
    times = [f.t for f in out]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_gate_max_seconds_keeps_only_the_first_seconds_of_an_episode() -> None:
    full = _run(4.0, 16.0, None)
    capped = _run(4.0, 16.0, 2.0)
    seconds = sum(len(f.data) for f in capped) / RATE
    assert 2.0 <= seconds <= 2.6 < sum(len(f.data) for f in full) / RATE
    assert capped[0].t == full[0].t
