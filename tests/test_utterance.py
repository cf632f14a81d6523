"""Utterance models: the streaming speaker normalizer, calibration, abstention, the prior,
merge.need's use of them, the bundled emodb-ser / cry-need-cal on real clips, and
configs/emotion.yaml end to end."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from streamser.dsp.functionals import RunningNorm
from streamser.frames import Frame

from .conftest import DATA, ROOT, cli, data_file

NEEDS = ["belly_pain", "burping", "discomfort", "hungry", "tired"]


def _node(**params):
    from streamser.plugins.utterance import ClassifyUtterance
    node = ClassifyUtterance(ClassifyUtterance.Params(**params), "u")
    node.start()
    return node


def _utterance(node, audio: np.ndarray, stream: str = "s") -> list[Frame]:
    """One clip as one utterance (ended by an inactive block), at the node's rate."""
    rate = node.frontend.rate
    out = node.process(Frame("audio", audio, stream=stream, meta={"sample_rate": rate}))
    return out + node.process(Frame("audio", np.zeros(0, np.float32), stream=stream,
                                    meta={"sample_rate": rate, "active": False}))


def _cry(seconds: float = 3.0) -> np.ndarray:
    from streamser.train.clips import load_audio
    return load_audio(data_file("babycry_esc/crying/1-187207-A.flac"))[:int(16000 * seconds)]


def test_running_norm_equals_the_batch_statistics() -> None:
    rng = np.random.default_rng(0)
    parts = [rng.normal(3, 2, (n, 4)) for n in (50, 7, 120)]
    norm = RunningNorm.from_corpus(np.zeros(4), np.ones(4), prior_frames=0)
    for p in parts:
        norm.update(p)
    allx = np.concatenate(parts)
    assert np.allclose(norm.mean, allx.mean(0)) and np.allclose(norm.var, allx.var(0))
    # a prior worth N frames is N frames of the corpus statistics
    prior = RunningNorm.from_corpus(np.full(4, 10.0), np.ones(4), prior_frames=100)
    prior.update(allx)
    assert np.allclose(prior.mean, (100 * 10 + allx.sum(0)) / (100 + len(allx)))


def test_calibration_sums_to_one_and_learns_the_class_frequencies() -> None:
    """On out-of-fold scores that carry no information, the calibrator's probabilities
    sum to 1 and average to the class frequencies (what always-majority knows)."""
    pytest.importorskip("sklearn")
    from streamser.train.utterance import Calibrator, choose_min_confidence, cross_fitted
    rng = np.random.default_rng(1)
    y = rng.choice(5, size=400, p=[0.05, 0.03, 0.06, 0.8, 0.06])
    scores = rng.dirichlet(np.ones(5), size=400)          # uninformative, balanced-looking
    folds = [(np.flatnonzero(np.arange(400) % 5 != k), np.flatnonzero(np.arange(400) % 5 == k))
             for k in range(5)]
    cal = cross_fitted(scores, y, folds, c=1.0)
    assert np.allclose(cal.sum(1), 1, atol=1e-9)
    freq = np.bincount(y, minlength=5) / len(y)
    assert np.abs(cal.mean(0) - freq).max() < 0.03
    assert Calibrator().fit(scores, y).apply(scores).argmax(1).tolist() == [3] * 400
    # informative scores: the calibrated guess beats the majority and a threshold exists
    good = np.eye(5)[y] * 3 + rng.dirichlet(np.ones(5), size=400)
    good = good / good.sum(1, keepdims=True)
    assert choose_min_confidence(cross_fitted(good, y, folds, 1.0), y) < 1.0


@pytest.mark.parametrize("min_confidence", [0.0, 0.5, 1.0])
def test_abstention_follows_min_confidence_on_a_real_cry(min_confidence: float) -> None:
    node = _node(model="cry-need-cal", min_confidence=min_confidence)
    [f] = [f for f in _utterance(node, _cry(2.0)) if f.meta["final"]]
    p = f.data
    assert f.meta["labels"] == NEEDS and abs(p.sum() - 1) < 1e-5
    top = NEEDS[int(p.argmax())]
    assert f.meta["label"] == (top if p.max() >= min_confidence and min_confidence < 1
                               else None)
    assert f.meta["min_confidence"] == min_confidence


def test_the_default_guess_on_a_real_cry_is_well_formed_or_null() -> None:
    meta = json.loads((ROOT / "streamser" / "zoo" / "cry-need-cal.json").read_text())
    node = _node(model="cry-need-cal")
    assert node.min_conf == meta["min_confidence"]
    frames = _utterance(node, _cry(3.0))
    final = [f for f in frames if f.meta["final"]]
    assert len(final) == 2      # max_seconds 2: the first 2 s, then the rest (1 s)
    for f in final:
        assert f.meta["label"] is None or (f.meta["label"] in NEEDS
                                           and f.data.max() >= meta["min_confidence"])
        assert set(f.meta["label_scores"]) == set(NEEDS)


def test_prior_reweighs_calibrated_probabilities() -> None:
    base = _node(model="cry-need-cal", min_confidence=0.0)
    flat = _node(model="cry-need-cal", min_confidence=0.0, prior={k: 1.0 for k in NEEDS})
    p = [f for f in _utterance(base, _cry(2.0)) if f.meta["final"]][0].data.astype(float)
    q = [f for f in _utterance(flat, _cry(2.0)) if f.meta["final"]][0].data.astype(float)
    train = np.asarray(base.backend.contract.raw["train_prior"])
    want = p / train
    assert np.allclose(q, want / want.sum(), atol=1e-5) and abs(q.sum() - 1) < 1e-5
    with pytest.raises(ValueError, match="prior"):
        _node(model="cry-need-cal", prior={"thirsty": 1.0})


def test_merge_need_last_guess_and_abstention() -> None:
    from streamser.plugins.merge import MergeNeed
    node = MergeNeed(MergeNeed.Params(need_model="n", combine="last"), "m")
    node.start()
    det = {"labels": ["cry", "other"], "model": "d"}

    def need(p, t, conf):
        return Frame("scores", np.asarray(p, np.float32), t=t,
                     meta={"labels": ["a", "b"], "model": "n", "upto": t,
                           "min_confidence": conf})
    node.process(Frame("scores", np.array([0.9, 0.1], np.float32), t=1.0,
                       meta={**det, "upto": 1.0}))
    node.process(need([0.9, 0.1], 1.2, 0.8))
    node.process(need([0.3, 0.7], 1.4, 0.8))
    out = node.process(Frame("scores", np.array([0.9, 0.1], np.float32), t=1.5,
                             meta={**det, "upto": 1.5}))
    assert out[0].meta["label"] is None                   # last guess 0.7 < 0.8
    assert out[0].meta["label_scores"] == {"a": 0.3, "b": 0.7}
    node.process(need([0.1, 0.9], 1.6, 0.8))
    out = node.process(Frame("scores", np.array([0.9, 0.1], np.float32), t=2.0,
                             meta={**det, "upto": 2.0}))
    assert out[0].meta["label"] == "b"


def test_emodb_ser_adapts_per_stream_and_names_an_emotion() -> None:
    """Two streams (speakers) keep their own normalizer; a real emodb clip gets a label
    among the seven, probabilities summing to 1."""
    from streamser.train.clips import load_audio
    clip = load_audio(data_file("emodb/03a01Fa.flac"))
    node = _node(model="emodb-ser")
    assert node.adapt
    a = [f for f in _utterance(node, clip, "a") if f.meta["final"]]
    b = [f for f in _utterance(node, clip, "b") if f.meta["final"]]
    assert np.allclose(a[0].data, b[0].data)              # same cold start
    again = [f for f in _utterance(node, clip, "a") if f.meta["final"]]
    assert not np.allclose(a[0].data, again[0].data)      # stream a has adapted
    assert node._streams["a"].norm.count > node._streams["b"].norm.count
    assert a[0].meta["label"] in a[0].meta["labels"] and abs(a[0].data.sum() - 1) < 1e-4


@pytest.mark.parametrize("source", ["file", "synth"])
def test_emotion_graph_runs(source: str, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    if source == "file":
        src = tmp_path / "two.wav"
        import soundfile as sf

        from streamser.train.clips import load_audio
        a = load_audio(data_file("emodb/03a01Wa.flac"))
        b = load_audio(data_file("emodb/03a01Nc.flac"))
        gap = np.zeros(16000, np.float32)
        sf.write(src, np.concatenate([gap, a, gap, b, gap]), 16000)
        args = ["--input", str(src)]
    else:
        args = ["--input", "synth:noise", "--set", "mic.duration=4"]
    r = cli("run", str(ROOT / "configs" / "emotion.yaml"), *args, "--events", str(events),
            "-q", timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    found = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
    for e in found:
        assert e["event"] == "emotion" and e["start"] <= e["end"] == e["emitted_at"]
        assert e["label"] in e["label_scores"]
        assert abs(sum(e["label_scores"].values()) - 1) < 0.02
    if source == "file":
        assert len(found) >= 2 and found[0]["start"] >= 0.8
        assert found[-1]["end"] <= 1 + len(a) / 16000 + 1 + len(b) / 16000 + 0.5


def test_eval_feeds_each_group_in_order(tmp_path: Path) -> None:
    src = data_file("emodb/manifest.csv")
    rows = [r for r in csv.DictReader(src.read_text().splitlines())
            if r["group"] in ("speaker03", "speaker08")][::3]
    manifest = tmp_path / "m.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows({**r, "path": str(DATA / "emodb" / r["path"])} for r in rows)
    out = tmp_path / "e.json"
    r = cli("eval", "emodb-ser", "--data", str(manifest), "--json", str(out), "-q",
            "--include-training", timeout=180)            # emodb-ser's training clips
    assert r.returncode == 0, r.stderr
    assert "in manifest order through one stream per group" in r.stdout
    s = json.loads(out.read_text())
    assert s["n"] == len(rows) and s["streamed"]["groups"] == 2


def test_the_runtime_node_computes_what_training_computed() -> None:
    """A speaker's clips through the node (streaming front-end, running normalizer) give
    the probabilities of the training path (whole-clip features, ``stats_matrix`` with
    the same normalizer) run through the same ONNX file."""
    import onnxruntime as ort

    from streamser.frontend import FrontEnd
    from streamser.train.clips import load_audio
    from streamser.train.data import Normalizer
    from streamser.train.utterance import stats_matrix
    from streamser.zoo import artifact
    node = _node(model="emodb-ser")
    c = node.backend.contract
    paths = [data_file(f"emodb/{n}.flac") for n in ("03a01Fa", "03a01Nc", "03a01Wa")]
    audio = [load_audio(p) for p in paths]
    got = np.stack([[f for f in _utterance(node, a) if f.meta["final"]][0].data
                    for a in audio])
    fe = FrontEnd.from_dict(c.raw["frontend"])
    x = stats_matrix([fe.extract(a) for a in audio], np.array(["s"] * 3),
                     Normalizer(c.mean, c.std), c.raw["adapt"])
    sess = ort.InferenceSession(str(artifact("emodb-ser", ".onnx")),
                                providers=["CPUExecutionProvider"])
    want = sess.run(["probs"], {"x": x.astype(np.float32)})[0]
    assert np.abs(got - want).max() < 1e-4


def test_bench_reports_the_need_branch(tmp_path: Path) -> None:
    from .conftest import free_port
    out = tmp_path / "b.json"
    r = cli("bench", str(ROOT / "configs" / "cry_robot.yaml"), "--input",
            str(data_file("babycry_esc/crying/1-187207-A.flac")), "--set",
            f"publish.endpoint=tcp://127.0.0.1:{free_port()}", "--json", str(out),
            timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    nb = json.loads(out.read_text())["need_branch"]
    assert nb["nodes"] == ["needgate", "need", "merge"] and nb["ms_per_audio_s"] > 0
    assert "need branch (needgate, need, merge)" in r.stdout
