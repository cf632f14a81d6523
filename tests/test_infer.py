"""The infer node on the bundled models: per-stream state (one node serves many robots),
state reset on a stream gap, and bundled builds resolved by name."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from streamser.plugins.features.logmel import LogMel
from streamser.plugins.infer import Infer
from streamser.plugins.window import Patch

from streamser.frames import Frame
from streamser.zoo import artifact

from .conftest import data_file


def _patches(path, stream: str) -> list[Frame]:
    audio, rate = sf.read(path, dtype="float32")
    assert rate == 16000
    mel, patch = LogMel(LogMel.Params(), name="m"), Patch(Patch.Params(), name="p")
    mel.start()
    patch.start()
    out = []
    for i in range(0, len(audio), 4096):
        f = Frame("audio", audio[i:i + 4096], t=i / rate, stream=stream,
                  meta={"sample_rate": rate})
        for feats in mel.process(f):
            out += patch.process(feats)
    return out


def _scores(node: Infer, frames: list[Frame]) -> dict[str, np.ndarray]:
    out: dict[str, list[np.ndarray]] = {}
    for f in frames:
        for s in node.process(f):
            out.setdefault(s.stream, []).append(s.data)
    return {k: np.stack(v) for k, v in out.items()}


def test_one_node_many_streams_and_gaps() -> None:
    cry = _patches(data_file("babycry_esc/crying/1-187207-A.flac"), "robot-a")
    other = _patches(data_file("babycry_esc/manifest.csv").parent / "laugh" /
                     sorted(p.name for p in (data_file("babycry_esc/manifest.csv").parent
                                             / "laugh").iterdir())[0], "robot-b")
    node = Infer(Infer.Params(model="cry-detector", build=".onnx"), name="detect")
    node.start()
    alone_a = _scores(node, cry)["robot-a"]
    node.start()
    alone_b = _scores(node, other)["robot-b"]
    node.start()
    mixed = [f for pair in zip(cry, other) for f in pair]
    both = _scores(node, mixed)
    n = min(len(cry), len(other))
    np.testing.assert_allclose(both["robot-a"][:n], alone_a[:n], atol=1e-6)
    np.testing.assert_allclose(both["robot-b"][:n], alone_b[:n], atol=1e-6)
    assert alone_a[-1][0] > 0.5 > alone_b[-1][0]           # cry scored cry, laughter not
    # a gap resets the stream's state: the first frame after it scores as a fresh stream
    node.start()
    _scores(node, cry)
    restart = cry[0].derive(cry[0].data, gap=True)
    again = node.process(restart)[0]
    np.testing.assert_allclose(again.data, alone_a[0], atol=1e-6)
    assert again.meta["gap"] is True and again.meta["labels"] == ["cry", "other"]


def test_bundled_builds_resolve_by_name() -> None:
    assert artifact("cry-detector").name == "cry-detector.int8.tflite"
    assert artifact("cry-need", ".onnx").name == "cry-need.onnx"
    node = Infer(Infer.Params(model="cry-detector"), name="d")
    node.start()
    assert node.backend.kind == "tflite" and node.contract.raw["build"] == "int8"


def test_int8_cry_detector_agrees_with_float_on_real_patches() -> None:
    """The bundled cry-detector's int8 TFLite vs its float ONNX, state fed back, over
    real clips of every babycry_esc class: the same decision on >= 98 % of patches."""
    from streamser.plugins.infer.backends import open_backend

    root = data_file("babycry_esc/manifest.csv").parent
    clips = [p for kind in ("crying", "laugh", "noise", "silence")
             for p in sorted((root / kind).iterdir())[:6]]
    fp, q = (open_backend(artifact("cry-detector", b)) for b in (".onnx", ".int8.tflite"))
    agree = total = 0
    for clip in clips:
        patches = _patches(clip, "s")
        s_fp, s_q = fp.contract.initial_states(), q.contract.initial_states()
        for f in patches:
            x = fp.contract.normalize(f.data)[None]
            p_fp, s_fp = fp.run(x, s_fp)
            p_q, s_q = q.run(x, s_q)
            agree += int(p_fp.argmax() == p_q.argmax())
            total += 1
    assert total >= 150 and agree / total >= 0.98


def test_process_batch_equals_one_frame_at_a_time() -> None:
    """The batched path (several streams' steps in one ONNX call) gives each stream the
    frames the one-at-a-time path gives it."""
    cry = _patches(data_file("babycry_esc/crying/1-187207-A.flac"), "a")
    laugh_dir = data_file("babycry_esc/manifest.csv").parent / "laugh"
    other = _patches(sorted(laugh_dir.iterdir())[1], "b")
    frames = [f for pair in zip(cry, other) for f in pair]
    one = Infer(Infer.Params(model="cry-detector", build=".onnx"), name="d")
    one.start()
    single = [s for f in frames for s in one.process(f)]
    many = Infer(Infer.Params(model="cry-detector", build=".onnx"), name="d")
    many.start()
    batched = [s for i in range(0, len(frames), 6) for s in many.process_batch(frames[i:i + 6])]
    for stream in ("a", "b"):
        a = [s for s in single if s.stream == stream]
        b = [s for s in batched if s.stream == stream]
        assert [s.t for s in a] == [s.t for s in b] and [s.seq for s in a] == [s.seq for s in b]
        np.testing.assert_allclose(np.stack([s.data for s in a]),
                                   np.stack([s.data for s in b]), atol=1e-5)


def test_merge_mean_averages_the_members_frame_by_frame() -> None:
    """An ensemble: two bundled detectors on the same real patches, interleaved out of
    step, come out as one frame per patch, in order, holding the members' mean."""
    from streamser.plugins.merge import MergeMean

    patches = _patches(data_file("babycry_esc/crying/1-187207-A.flac"), "robot-a")
    names = ["cry-detector", "cry-detector-distilled"]
    per_model = {}
    for name in names:
        node = Infer(Infer.Params(model=name), name=name)
        node.start()
        per_model[name] = [s for f in patches for s in node.process(f)]
    assert all(len(v) == len(patches) for v in per_model.values())
    merge = MergeMean(MergeMean.Params(models=names, name="x2"), name="detect")
    merge.start()
    out = []
    # the second member lags two frames behind the first
    for i in range(len(patches) + 2):
        out += merge.process(per_model[names[0]][i]) if i < len(patches) else []
        out += merge.process(per_model[names[1]][i - 2]) if i >= 2 else []
    assert [f.t for f in out] == [f.t for f in per_model[names[0]]]
    assert [f.seq for f in out] == list(range(len(patches)))
    mean = np.mean([[f.data for f in per_model[n]] for n in names], axis=0)
    np.testing.assert_allclose(np.stack([f.data for f in out]), mean, atol=1e-6)
    assert out[-1].meta["model"] == "x2" and out[-1].data[0] > 0.5     # a cry, agreed
    spread = np.ptp([[f.data[0] for f in per_model[n]] for n in names], axis=0)
    assert spread.max() > 0.01                           # the members do differ
    only_b = MergeMean(MergeMean.Params(models=names, weights=[0, 1]), name="b")
    only_b.start()
    picked = [f for name in names for frame in per_model[name] for f in only_b.process(frame)]
    np.testing.assert_allclose(np.stack([f.data for f in picked]),
                               np.stack([f.data for f in per_model[names[1]]]),
                               atol=1e-6)
    with pytest.raises(ValueError, match="expected one of"):
        merge.process(per_model["cry-detector"][0].derive(
            per_model["cry-detector"][0].data, model="cry-need"))


def test_merge_need_guess_does_not_depend_on_arrival_order() -> None:
    """A real cry through the robot's need branch (detector -> gate -> IS09 -> cry-need):
    the cry_end that the end of the file closes carries the mean of all the episode's
    need frames, whether they reach merge.need interleaved with the detector's frames (one
    process) or all after them (another process or host can be that late)."""
    from streamser.plugins.features.is09 import Is09
    from streamser.plugins.features.logmel import LogMel
    from streamser.plugins.gate import GateScores
    from streamser.plugins.merge import MergeNeed
    from streamser.plugins.smooth import Hysteresis
    from streamser.plugins.window import Patch

    from streamser.train.clips import load_audio
    audio = load_audio(data_file("babycry_esc/crying/1-187207-A.flac"), 16000)
    mel, patch = LogMel(LogMel.Params(), name="m"), Patch(Patch.Params(), name="p")
    detect = Infer(Infer.Params(model="cry-detector"), name="d")
    gate = GateScores(GateScores.Params(max_seconds=4.0), name="g")
    is09 = Is09(Is09.Params(), name="f")
    need = Infer(Infer.Params(model="cry-need", build=".onnx", every=25), name="n")
    for node in (mel, patch, detect, gate, is09, need):
        node.start()
    interleaved, detector, needs = [], [], []
    for i in range(0, len(audio), 4096):
        chunk = Frame("audio", audio[i:i + 4096], t=i / 16000, meta={"sample_rate": 16000})
        scores = [s for f in mel.process(chunk) for p in patch.process(f)
                  for s in detect.process(p)]
        guesses = [n for g in [*gate.process(chunk), *(g for s in scores
                                                       for g in gate.process(s))]
                   for f in is09.process(g) for n in need.process(f)]
        interleaved += [*scores, *guesses]
        detector += scores
        needs += guesses
    assert len(needs) >= 10 and any(s.data[0] >= 0.5 for s in detector)

    def cry_end(frames: list[Frame]) -> dict:
        merge = MergeNeed(MergeNeed.Params(), name="merge")
        smooth = Hysteresis(Hysteresis.Params(), name="smooth")
        merge.start()
        smooth.start()
        merged = [m for f in frames for m in merge.process(f)] + list(merge.flush())
        events = [e.meta for m in merged for e in smooth.process(m)] + \
            [e.meta for e in smooth.flush()]
        assert [e["event"] for e in events] == ["cry_start", "cry_end"]
        return events[1]

    one, late = cry_end(interleaved), cry_end(detector + needs)
    mean = np.mean([n.data for n in needs], axis=0)
    labels = needs[0].meta["labels"]
    assert one["label_scores"] == late["label_scores"] == {
        k: round(float(v), 3) for k, v in zip(labels, mean)}
    assert one["label"] == late["label"] == labels[int(mean.argmax())]
