"""cry-yamnet's architecture (YAMNet backbone + attention-gate cell) and distillation into
the small detector, on real audio."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert.interpreter")

from streamser.models import build  # noqa: E402
from streamser.frontend import FrontEnd  # noqa: E402
from streamser.train.clips import load_audio  # noqa: E402
from streamser.train.recipe import TrainSpec  # noqa: E402
from streamser.train.trainer import fit  # noqa: E402

from .conftest import data_file  # noqa: E402

PATCHES = FrontEnd.from_dict({"features": [{"plugin": "features.logmel"}], "rate": 16000,
                              "patch": {"hop": 0.48}})


@pytest.fixture(scope="module")
def cry_patches() -> np.ndarray:
    """Raw log-mel patches of a real cry (what window.patch emits), 5 s: 9 patches."""
    return PATCHES.extract(load_audio(data_file("babycry_esc/crying/1-22694-A.flac"), 16000))


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    m = build("yamnet_lstm", 64, 2)
    m.load_backbone()
    return m.eval()


def test_step_equals_sequence_forward_on_a_real_cry(model, cry_patches) -> None:
    x = torch.from_numpy(cry_patches[None])
    with torch.no_grad():
        steps = model.forward_steps(x)[0]
        state = model.initial_state(1)
        stepped = []
        for p in x[0]:
            logits, state = model.step(p[None], state)
            stepped.append(logits[0])
        last = model(x, torch.tensor([len(cry_patches)]))[0]
    torch.testing.assert_close(torch.stack(stepped), steps, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last, steps[-1], atol=1e-5, rtol=1e-5)


def test_embeddings_stand_in_for_patches(model, cry_patches, tmp_path, monkeypatch) -> None:
    """encode_items gives the backbone's embeddings (cached on disk), and every method
    takes them in place of patches with the same result."""
    import streamser.models.yamnet_lstm as yl
    monkeypatch.setattr(yl, "CACHE", tmp_path)
    (emb,) = model.encode_items([cry_patches])
    assert emb.shape == (len(cry_patches), 1024)
    (again,) = model.encode_items([cry_patches])              # from the cache
    np.testing.assert_array_equal(emb, again)
    assert len(list(tmp_path.rglob("*.npy"))) == 1
    with torch.no_grad():
        a = model.forward_steps(torch.from_numpy(cry_patches[None]))
        b = model.forward_steps(torch.from_numpy(emb[None]))
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_the_backbone_stays_frozen(model) -> None:
    assert not any(p.requires_grad for p in model.backbone.parameters())
    trained = {id(p) for p in model.parameters_for("main")}
    assert trained and not trained & {id(p) for p in model.backbone.parameters()}
    model.train()
    assert not model.backbone.training          # batch statistics never change
    model.eval()


def test_distillation_pulls_the_student_towards_the_teacher(cry_patches) -> None:
    """With distill=1 the labels are ignored: a student trained on a cry labelled 'other'
    but a teacher that says 'cry' learns to say cry."""
    x = (cry_patches - cry_patches.mean()) / cry_patches.std()
    items = [x[:6], x[3:]]
    y = np.array([1, 1])                                   # labels say: other
    soft = [np.tile([[0.95, 0.05]], (len(i), 1)).astype(np.float32) for i in items]
    spec = TrainSpec(epochs=25, stage_epochs={"patch": 5}, batch=2, lr=0.01,
                     val_fraction=0, distill=1.0, class_weighting=False)

    def trained(with_soft: bool) -> float:
        torch.manual_seed(0)
        m = build("vggish_lstm", 64, 2, channels=[4, 4, 8, 8, 8, 8], embedding=8,
                  recurrent="agate", hidden=8, dropout=0.0)
        fit(m, items, y, [], np.zeros(0, int), spec, ["cry", "other"],
            soft=soft if with_soft else None)
        with torch.no_grad():
            return float(torch.softmax(m.forward_steps(torch.from_numpy(x[None])), -1)[0, :, 0]
                         .mean())

    with_teacher, labels_only = trained(True), trained(False)
    assert with_teacher > 0.6 and labels_only < 0.3, (with_teacher, labels_only)


def test_a_student_that_cannot_distill_is_refused() -> None:
    m = build("vggish_lstm", 64, 2, channels=[4, 4, 8, 8, 8, 8], embedding=8,
              recurrent="bilstm", hidden=8)
    items = [np.zeros((2, 96, 64), np.float32)] * 2
    with pytest.raises(ValueError, match="soft targets"):
        fit(m, items, np.array([0, 1]), [], np.zeros(0, int),
            TrainSpec(epochs=1, val_fraction=0), ["cry", "other"],
            soft=[np.zeros((2, 2), np.float32)] * 2)


def test_teacher_targets_from_a_checkpoint(tmp_path: Path, cry_patches) -> None:
    from streamser.train.checkpoint import save
    from streamser.train.distill import teacher_targets

    torch.manual_seed(0)
    teacher = build("yamnet_lstm", 64, 2)
    teacher.load_backbone()
    meta = {"arch": "yamnet_lstm", "name": "t", "labels": ["cry", "other"], "input_dim": 64,
            "hparams": teacher.hparams,
            "normalizer": {"mean": [0.0] * 64, "std": [1.0] * 64},
            "frontend": {"features": [{"plugin": "features.logmel"}], "rate": 16000,
                         "patch": {"hop": 0.48}}}
    path = save(tmp_path / "t.pt", teacher, meta)
    (soft,) = teacher_targets(str(path), [cry_patches], ["cry", "other"])
    assert soft.shape == (len(cry_patches), 2)
    np.testing.assert_allclose(soft.sum(1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="labels"):
        teacher_targets(str(path), [cry_patches], ["other", "cry"])


def test_logits_head_steps_as_its_sequence_and_reads_audioset_scores(cry_patches) -> None:
    """inputs: logits: the head reads YAMNet's 521 AudioSet logits (frozen classifier);
    its step equals its sequence forward on a real cry."""
    torch.manual_seed(0)
    m = build("yamnet_lstm", 64, 2, inputs="logits")
    m.load_backbone()
    m.eval()
    assert m.proj.in_features == 521
    x = torch.from_numpy(cry_patches[None])
    with torch.no_grad():
        steps = m.forward_steps(x)[0]
        state, stepped = m.initial_state(1), []
        for p in x[0]:
            logits, state = m.step(p[None], state)
            stepped.append(logits[0])
    torch.testing.assert_close(torch.stack(stepped), steps, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="inputs"):
        build("yamnet_lstm", 64, 2, inputs="mfcc")


def test_room_tone_is_quiet_and_varied() -> None:
    """train.quiet's items: digital silence or coloured noise within the level range."""
    from streamser.train.augment import room_tone

    rng = np.random.default_rng(0)
    tones = [room_tone(rng) for _ in range(60)]
    silent = [t for t in tones if not np.any(t)]
    assert 1 <= len(silent) <= 15
    levels = [20 * np.log10(np.sqrt(np.mean(t.astype(np.float64) ** 2)))
              for t in tones if np.any(t)]
    assert min(levels) >= -90.5 and max(levels) <= -39.5
    assert all(2.0 * 16000 <= len(t) <= 8.0 * 16000 for t in tones)
    # white, pink and brown: the share of energy below 500 Hz spreads widely
    low = [np.sum(np.abs(np.fft.rfft(t))[: len(t) * 500 // 16000] ** 2)
           / np.sum(np.abs(np.fft.rfft(t)) ** 2) for t in tones if np.any(t)]
    assert min(low) < 0.2 and max(low) > 0.9
