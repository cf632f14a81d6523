"""YAMNet in PyTorch against the int8 TFLite patch model it takes its weights from, on
log-mel patches of real clips made by the project's own front-end."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
litert = pytest.importorskip("ai_edge_litert.interpreter")

from streamser.models.yamnet import CRY_CLASSES, EMBEDDING, N_CLASSES, YAMNet  # noqa: E402
from streamser.frontend import FrontEnd  # noqa: E402
from streamser.train.clips import load_audio, read_manifest  # noqa: E402

from .conftest import ROOT, data_file  # noqa: E402

PATCHES = FrontEnd.from_dict({"features": [{"plugin": "features.logmel"}], "rate": 16000,
                              "patch": {"hop": 0.48}})


@pytest.fixture(scope="module")
def tflite_path() -> Path:
    """The shipped YAMNet patch flatbuffer (``$STREAMSER_YAMNET`` or ../shared/models)."""
    path = Path(os.environ.get("STREAMSER_YAMNET")
                or ROOT.parent / "shared/models/yamnet/yamnet_patch.tflite")
    if not path.is_file():
        pytest.skip(f"YAMNet flatbuffer not found at {path} (set STREAMSER_YAMNET)")
    return path


@pytest.fixture(scope="module")
def model(tflite_path: Path) -> YAMNet:
    return YAMNet.from_tflite(tflite_path)


def clip_patches(manifest: str, per_label: int) -> list[np.ndarray]:
    """Patches of the first ``per_label`` clips of each label of a manifest."""
    seen: dict[str, int] = {}
    out = []
    for clip in read_manifest(data_file(manifest)):
        if seen.setdefault(clip.label, 0) < per_label:
            seen[clip.label] += 1
            out.append(PATCHES.extract(load_audio(clip.path, 16000)))
    return out


def run_tflite(path: Path, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores and dequantized MEAN outputs (the embedding) of the TFLite model."""
    it = litert.Interpreter(str(path), num_threads=1, experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    mean = next(t for t in it.get_tensor_details() if t["name"].endswith("reduce_mean"))
    (scale,), (zero,) = mean["quantization_parameters"]["scales"], \
        mean["quantization_parameters"]["zero_points"]
    out_index = it.get_output_details()[0]["index"]
    scores, embeddings = [], []
    for p in patches:
        it.set_tensor(it.get_input_details()[0]["index"], p[None])
        it.invoke()
        scores.append(it.get_tensor(out_index)[0])
        embeddings.append((it.get_tensor(mean["index"]).reshape(-1) - zero) * scale)
    return np.array(scores), np.array(embeddings, np.float32)


def test_scores_and_embedding_match_tflite(model: YAMNet, tflite_path: Path) -> None:
    patches = np.concatenate(clip_patches("babycry_esc/manifest.csv", 5)
                             + clip_patches("noncry/manifest.csv", 5))
    ref, ref_emb = run_tflite(tflite_path, patches)
    with torch.no_grad():
        x = torch.from_numpy(patches)
        scores, emb = model(x).numpy(), model.embed(x).numpy()
        logits = model.logits(x).numpy()
    assert scores.shape == (len(patches), N_CLASSES) and emb.shape == (len(patches), EMBEDDING)
    np.testing.assert_allclose(torch.sigmoid(torch.from_numpy(logits)).numpy(), scores,
                               atol=1e-6)
    diff = np.abs(scores - ref)
    corr = np.corrcoef(scores.ravel(), ref.ravel())[0, 1]
    top1 = np.mean(scores.argmax(1) == ref.argmax(1))
    top5 = [len(set(a) & set(b)) for a, b in zip(np.argsort(-scores)[:, :5],
                                                 np.argsort(-ref)[:, :5])]
    top5_same, top5_overlap = np.mean(np.equal(top5, 5)), np.mean(top5)
    emb_corr = np.corrcoef(emb.ravel(), ref_emb.ravel())[0, 1]
    print(f"\nYAMNet torch vs TFLite on {len(patches)} patches: max abs score diff "
          f"{diff.max():.4f} (mean {diff.mean():.5f}), correlation {corr:.4f}, top-1 agreement "
          f"{100 * top1:.1f} %, top-5 sets equal {100 * top5_same:.1f} % (mean overlap "
          f"{top5_overlap:.2f}/5), embedding correlation {emb_corr:.4f} (max abs diff "
          f"{np.abs(emb - ref_emb).max():.3f})")
    assert len(patches) >= 150
    # measured: mean 0.00036, max 0.103, correlations 0.9987 and 0.9995, top-1 93.4 %,
    # top-5 overlap 4.62/5 (see the module docstring of streamser.models.yamnet)
    assert diff.mean() < 0.001 and diff.max() < 0.2
    assert corr > 0.995 and emb_corr > 0.998
    assert top1 >= 0.88 and top5_overlap >= 4.4


def test_cry_clips_top_class_is_a_cry_class(model: YAMNet) -> None:
    clips = [c for c in read_manifest(data_file("babycry_esc/manifest.csv"))
             if c.label == "crying"][:20]
    tops = []
    for clip in clips:
        with torch.no_grad():
            scores = model(torch.from_numpy(PATCHES.extract(load_audio(clip.path, 16000))))
        tops.append(int(scores.mean(0).argmax()))
        if clip.path.name == "3-151080-A.flac":          # a loud, clear cry: every patch
            assert all(int(t) in CRY_CLASSES for t in scores.argmax(1))
    assert np.mean([t in CRY_CLASSES for t in tops]) >= 0.8   # measured 17/20


def test_loading_errors_are_one_line(tflite_path: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="cannot read YAMNet"):
        YAMNet.from_tflite(tmp_path / "absent.tflite")
    with pytest.raises(ValueError, match="YAMNet"):
        YAMNet.from_tflite(ROOT / "streamser/zoo/cry-detector.int8.tflite")
