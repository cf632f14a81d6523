"""gate.scores passes an episode's audio (its first max_seconds) and marks each with a gap."""
from __future__ import annotations

import numpy as np
from streamser.plugins.gate import GateScores

from streamser.frames import Frame

RATE = 16000


def _run(on_from: float, on_to: float, max_seconds: float | None,
         off: tuple[float, float] | None = None, reset: float | None = None) -> list[Frame]:
    gate = GateScores(GateScores.Params(max_seconds=max_seconds, reset=reset), name="g")
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
            if off and off[0] <= upto - 0.5 <= off[1]:
                cry = 0.0
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


def test_gate_reset_keeps_a_short_dip_in_one_episode() -> None:
    """A 1 s dip: without reset it starts a second episode (a gap, a fresh max_seconds);
    with reset 3 s the audio after it follows on without a gap, in the same budget; a
    dip longer than reset starts a new episode."""
    plain = _run(4.0, 16.0, 4.0, off=(6.0, 7.0))
    held = _run(4.0, 16.0, 4.0, off=(6.0, 7.0), reset=3.0)
    assert sum(bool(f.meta.get("gap")) for f in plain) == 2
    assert sum(bool(f.meta.get("gap")) for f in held) == 1
    assert sum(len(f.data) for f in held) / RATE <= 4.6 < sum(len(f.data) for f in plain) / RATE
    long_dip = _run(4.0, 16.0, 4.0, off=(6.0, 10.5), reset=3.0)
    assert sum(bool(f.meta.get("gap")) for f in long_dip) == 2


def test_gate_lets_the_same_audio_through_whichever_input_arrives_first() -> None:
    """Real audio (room silence, a baby crying, silence) scored by the bundled detector:
    the gate releases the same frames whether each patch's scores come after its audio
    (one process), all before it, or all after it (tcp or other processes can do
    either), and what it releases lies in the cry."""
    from streamser.plugins.features.logmel import LogMel
    from streamser.plugins.infer import Infer
    from streamser.plugins.window import Patch

    from streamser.train.clips import load_audio

    from .conftest import data_file
    parts = [load_audio(data_file(f"babycry_esc/{p}.flac"), RATE) for p in
             ("silence/silence.wav_0", "crying/1-187207-A", "silence/silence.wav_1")]
    audio = np.concatenate(parts)
    cry_from, cry_to = len(parts[0]) / RATE, (len(parts[0]) + len(parts[1])) / RATE
    mel, patch = LogMel(LogMel.Params(), name="m"), Patch(Patch.Params(), name="p")
    detect = Infer(Infer.Params(model="cry-detector"), name="d")
    for node in (mel, patch, detect):
        node.start()
    steps = []                                     # (audio chunk, scores it completes)
    for i in range(0, len(audio), 4096):
        chunk = Frame("audio", audio[i:i + 4096], t=i / RATE, meta={"sample_rate": RATE})
        scores = [s for f in mel.process(chunk) for p in patch.process(f)
                  for s in detect.process(p)]
        steps.append((chunk, scores))
    assert any(s.data[0] >= 0.5 for _, ss in steps for s in ss)
    orders = {
        "audio first": [f for c, ss in steps for f in (c, *ss)],
        "scores first": [s for _, ss in steps for s in ss] + [c for c, _ in steps],
        "audio all first": [c for c, _ in steps] + [s for _, ss in steps for s in ss],
    }
    released = {}
    for name, frames in orders.items():
        gate = GateScores(GateScores.Params(buffer=60), name="g")
        gate.start()
        out = [f for frame in frames for f in gate.process(frame)]
        released[name] = [(f.t, len(f.data), bool(f.meta.get("gap"))) for f in out]
    assert released["audio first"] and len({tuple(r) for r in released.values()}) == 1
    first, last = released["audio first"][0], released["audio first"][-1]
    assert cry_from - 1.0 <= first[0] and last[0] + last[1] / RATE <= cry_to + 1.5
