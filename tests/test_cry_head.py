"""The cry head on YAMNet's rows: the backbone node, the leave-source-out corpus, the
offline detection curve against the smoothing node, and the head's ONNX export."""
from __future__ import annotations

import numpy as np
import pytest

from streamser.frames import Frame
from streamser.train.crycorpus import FOLDS, KINDS, read_corpus

from .conftest import DATA, data_file

CRY = "babycry_esc/crying/1-187207-A.flac"
LAUGH = "babycry_esc/laugh/laugh_1.m4a_0.flac"


def _patches(rel: str) -> np.ndarray:
    from streamser.frontend import FrontEnd
    from streamser.train.clips import load_audio
    fe = FrontEnd.from_dict({"features": ["features.logmel"], "patch": {"hop": 0.48}})
    return fe.extract(load_audio(data_file(rel)))


def test_backbone_node_rows_are_yamnets_outputs_and_score_a_cry_above_a_laugh() -> None:
    from streamser.plugins.features.yamnet import YamnetBackbone, YamnetFeatures
    patches = _patches(CRY)
    node = YamnetFeatures(YamnetFeatures.Params(outputs=["embedding", "logits", "probs"]),
                          "yamnet")
    node.start()
    rows = np.concatenate([node.process(Frame("patch", p, t=0.48 * i,
                                              meta={"hop": 0.48, "upto": 0.48 * i + 0.975}))
                           [0].data for i, p in enumerate(patches)])
    assert rows.shape == (len(patches), 1024 + 521 + 521)
    emb, logits, probs = rows[:, :1024], rows[:, 1024:1545], rows[:, 1545:]
    assert emb.min() >= 0 and emb.max() <= 6.01                   # ReLU6, then a mean
    # the sigmoid of the logits is the probs output (int8 rounding apart)
    assert np.abs(1 / (1 + np.exp(-logits)) - probs).max() < 0.08
    laugh = YamnetBackbone(outputs=("probs",))(_patches(LAUGH))
    assert probs[:, [19, 20]].max() > 2 * laugh[:, [19, 20]].max()
    assert np.array_equal(YamnetBackbone(outputs=("embedding",))(patches), emb)


def test_corpus_folds_keep_sources_whole_and_each_fold_has_cries() -> None:
    items = read_corpus(data_file("noncry/manifest.csv").parents[1])
    assert {i.kind for i in items} <= set(KINDS)
    fold_of: dict[str, set[int]] = {}
    for i in items:
        fold_of.setdefault(i.source, set()).add(i.fold)
    assert all(len(f) == 1 for f in fold_of.values())
    for f in range(FOLDS):
        assert sum(i.is_cry for i in items if i.fold == f) >= 30
    by = {(i.corpus, i.category): i.kind for i in items}
    assert by["vocal", "adult_solo_singing_calm"] == "singing"
    assert by["vocal", "child_speech"] == "child_speech"
    assert by["sfx", "adult_laugh_cartoon"] == "laugh"
    assert by["sfx", "goat"] == "animal"
    sfx_sources = {i.source for i in items if i.corpus == "sfx"}
    assert sfx_sources == {f"sfx/{lib}" for lib in
                           {i.path.relative_to(DATA / "sfx").parts[0] for i in items
                            if i.corpus == "sfx"}}


def test_offline_detections_are_the_smoothing_nodes_events() -> None:
    from streamser.plugins.features.yamnet import YamnetBackbone
    from streamser.plugins.smooth import Hysteresis

    from streamser.evaluation.detcurve import detections
    patches = np.concatenate([_patches(LAUGH), _patches(CRY), _patches(LAUGH), _patches(CRY)])
    scores = YamnetBackbone(outputs=("probs",))(patches)[:, [19, 20]].max(axis=1)
    for on, off, window, min_off in ((0.05, 0.02, 1, 1.0), (0.05, 0.03, 2, 0.5)):
        node = Hysteresis(Hysteresis.Params(label=0, on_threshold=on, off_threshold=off,
                                            window=window, min_on=0.0, min_off=min_off),
                          "smooth")
        node.start()
        events = [f.meta for i, s in enumerate(scores)
                  for f in node.process(Frame("scores", np.array([s], np.float32),
                                              t=0.48 * i, meta={"upto": 0.48 * i + 0.975}))]
        events += [f.meta for f in node.flush()]
        starts = [(e["t"], e["emitted_at"]) for e in events if e["event"] == "cry_start"]
        ends = [e["t"] for e in events if e["event"] == "cry_end"]
        dets = detections(scores, 0.48, on, off, window, 0.0, min_off, block=None)
        assert len(starts) >= 2
        assert [(d.start, d.emitted_at) for d in dets] == starts
        assert [d.end for d in dets] == pytest.approx(ends)


@pytest.mark.parametrize("anchor,context,inputs", [(0.0, 1, "both"), (1.0, 1, "both"),
                                                  (0.0, 3, "both"), (1.0, 2, "map"),
                                                  (0.0, 1, "block"), (1.0, 1, "timbre"),
                                                  (0.0, 1, "texture")])
def test_head_onnx_export_scores_as_the_trained_head(tmp_path, anchor: float, context: int,
                                                    inputs: str) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from streamser.plugins.features.yamnet import YamnetBackbone
    from streamser.plugins.infer.backends import open_backend

    from streamser.train.cryhead import BACKBONE_OUTPUTS, HeadSpec, train, write_onnx
    cry, laugh = _patches(CRY), _patches(LAUGH)
    rows = YamnetBackbone(outputs=tuple(BACKBONE_OUTPUTS[inputs]))(
        np.concatenate([cry, laugh]))
    if inputs in ("timbre", "texture"):   # embedding, logits, then what the head reads
        lead, logit = rows[:, 1024 + 521:], rows[:, 1024:1024 + 521]
    else:
        lead, logit = rows[:, :rows.shape[1] - 521], rows[:, rows.shape[1] - 521:]
    kind = np.array([0] * len(cry) + [KINDS.index("laugh")] * len(laugh), np.int8)
    source = np.array(["a"] * len(cry) + ["b"] * len(laugh))
    spec = HeadSpec(inputs=inputs, hidden=16, anchor=anchor, context=context, epochs=30)
    head = train(lead, logit, kind, source, spec)
    want = head.cry_score(lead, logit)
    if inputs != "block":       # 30 steps move the block's YAMNet weights little
        assert want[:len(cry)].mean() > 10 * want[len(cry):].mean()
    backend = open_backend(write_onnx(head, tmp_path / "head.onnx", "head", {}), "auto", 1)
    assert backend.contract.labels == KINDS
    states = backend.contract.initial_states(1)       # one row at a time, as infer runs it
    got = []
    for row in backend.contract.normalize(rows):
        probs, states = backend.run(row[None], states)
        got.append(probs[0, 0])
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_student_learns_real_cries_from_its_teacher_and_saves_a_streaming_checkpoint(
        tmp_path) -> None:
    """crystudent on the patches of real clips (cries; laughs, speech, noise): the teacher
    head is fitted on their YAMNet rows, the student on their log-mel patches; after two
    short stages it scores its cries above the rest, and its checkpoint reloads as a
    streaming model that steps to the same scores."""
    import torch
    from streamser.plugins.features.yamnet import YamnetBackbone

    from streamser.checkpoint import load
    from streamser.train.cryhead import HeadSpec
    from streamser.train.crystudent import StudentSpec, save, teacher_scores, train

    clips = {0: ["babycry_esc/crying/1-187207-A.flac", "babycry_esc/crying/1-211527-A.flac",
                 "babycry_esc/crying/1-22694-A.flac"],
             KINDS.index("laugh"): ["babycry_esc/laugh/laugh_1.m4a_0.flac"],
             KINDS.index("speech"): ["emodb/03a01Nc.flac", "emodb/03a01Wa.flac"],
             KINDS.index("other"): ["babycry_esc/noise/1-100032-A.flac",
                                    "babycry_esc/silence/silence.wav_0.flac"]}
    mel, kind, segment = [], [], []
    for k, paths in clips.items():
        for path in paths:
            p = _patches(path)
            mel.append(p)
            kind += [k] * len(p)
            segment += [len(segment)] * len(p)
    mel = np.concatenate(mel).astype(np.float32)
    kind, segment = np.array(kind), np.array(segment)
    source = np.array([str(s) for s in segment])
    rows = YamnetBackbone(outputs=("embedding", "logits"))(mel)
    soft = teacher_scores(rows[:, :1024], rows[:, 1024:], kind, source,
                          HeadSpec(inputs="logits", classes="kinds", hidden=0, epochs=30))
    assert soft[kind == 0].mean() > soft[kind != 0].mean() + 0.3
    # the robot's head as the teacher: the logits and the patch's timbre (--teacher timbre)
    from streamser.dsp.timbre import timbre
    soft_t = teacher_scores(timbre(mel), rows[:, 1024:], kind, source,
                            HeadSpec(inputs="timbre", classes="kinds", hidden=0, epochs=30))
    assert soft_t[kind == 0].mean() > soft_t[kind != 0].mean() + 0.3
    spec = StudentSpec(patch_epochs=40, seq_epochs=10, batch=16, seq_len=4, lr=5e-3)
    student = train(mel, kind, soft, source, segment, spec, say=lambda _: None)
    scores = np.concatenate([student.cry_scores(mel[segment == s])
                             for s in np.unique(segment)])
    print(f"\nstudent: cries {scores[kind == 0].mean():.2f}, the rest {scores[kind != 0].mean():.2f}")
    assert scores[kind == 0].mean() > scores[kind != 0].mean() + 0.2
    path = save(student, tmp_path / "student.pt", "test", len(kind))
    model, meta = load(path)
    assert model.streaming and meta["labels"] == ["cry", "other"]
    x = (mel[segment == 0] - np.array(meta["normalizer"]["mean"])) / np.array(
        meta["normalizer"]["std"])
    state, stepped = model.initial_state(1), []
    with torch.inference_mode():
        for patch in torch.from_numpy(x.astype(np.float32)):
            z, state = model.step(patch[None], state)
            stepped.append(float(torch.softmax(z, -1)[0, 0]))
    assert np.allclose(stepped, student.cry_scores(mel[segment == 0]), atol=1e-5)


def test_bagged_dro_and_blended_heads_on_real_rows(tmp_path) -> None:
    """``bag``: one linear layer whose logits are the mean of its seeds' heads; ``dro``
    still learns a cry from a laugh; ``blend`` mixes in YAMNet's own cry odds and has no
    export."""
    torch = pytest.importorskip("torch")
    from streamser.plugins.features.yamnet import YamnetBackbone

    from streamser.train.cryhead import HeadSpec, _anchor, train, write_onnx
    cry, laugh = _patches(CRY), _patches(LAUGH)
    rows = YamnetBackbone(outputs=("embedding", "logits"))(np.concatenate([cry, laugh]))
    emb, logit = rows[:, :1024], rows[:, 1024:]
    kind = np.array([0] * len(cry) + [KINDS.index("laugh")] * len(laugh), np.int8)
    source = np.array(["a"] * len(cry) + ["b"] * len(laugh))
    base = HeadSpec(inputs="logits", hidden=0, epochs=20)
    bagged = train(emb, logit, kind, source, HeadSpec(**{**base.__dict__, "bag": 3}))
    seeds = [train(emb, logit, kind, source, HeadSpec(**{**base.__dict__, "seed": k}))
             for k in range(3)]
    np.testing.assert_allclose(bagged.logits(emb, logit),
                               np.mean([h.logits(emb, logit) for h in seeds], axis=0),
                               rtol=1e-4, atol=1e-4)
    assert not np.allclose(seeds[0].logits(emb, logit), seeds[1].logits(emb, logit))
    dro = train(emb, logit, kind, source, HeadSpec(**{**base.__dict__, "dro": 0.5}))
    p = dro.cry_score(emb, logit)
    assert p[:len(cry)].mean() > 10 * p[len(cry):].mean()
    torch.manual_seed(0)
    blended = HeadSpec(**{**base.__dict__, "blend": 1.0})
    head = train(emb, logit, kind, source, blended)
    np.testing.assert_allclose(head.cry_score(emb, logit), 1 / (1 + np.exp(-_anchor(logit))),
                               rtol=1e-4)
    with pytest.raises(ValueError, match="no ONNX export"):
        write_onnx(head, tmp_path / "h.onnx", "h", {})
