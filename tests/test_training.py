"""Training side: scores, recipes, checkpoints, and `streamser train` / `eval` / `models`
end to end on a few real emodb clips."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from streamser.train.recipe import RecipeError, load_recipe
from streamser.train.scores import scores, summarize

from .conftest import DATA, cli, data_file


def test_scores_ua_wa_per_class() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    p = np.array([0, 0, 0, 1, 1, 0, 2, 2])
    s = scores(y, p, ["a", "b", "c"])
    assert s["wa"] == pytest.approx(6 / 8)
    assert s["ua"] == pytest.approx((3 / 4 + 1 / 2 + 1) / 3)
    assert s["per_class"]["b"] == {"recall": 0.5, "precision": 0.5, "f1": 0.5, "support": 2}
    assert s["confusion"] == [[3, 1, 0], [1, 1, 0], [0, 0, 2]]
    assert s["per_class"]["c"]["f1"] == 1.0
    # UA averages only the classes present in the truth
    assert scores(np.array([0, 0]), np.array([0, 1]), ["a", "b"])["ua"] == 0.5
    both = summarize([s, scores(y, y, ["a", "b", "c"])])
    assert both["ua"] == pytest.approx((s["ua"] + 1) / 2)
    assert both["ua_std"] == pytest.approx((1 - s["ua"]) / 2)
    assert both["confusion"][1] == [1, 3, 0]


def test_recipe_errors_name_the_line(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text("name: x\nmodel: {arch: lstm}\ndata:\n  manifests: [a.csv]\n  colour: red\n")
    with pytest.raises(RecipeError, match=r"r.yaml:5: data.colour: unknown param"):
        load_recipe(f)
    f.write_text("name: x\nmodel: {arch: lstm}\ndata: {manifests: [a.csv]}\n"
                 "train: {epochs: 0}\n")
    with pytest.raises(RecipeError, match=r":4: train.epochs: must be >"):
        load_recipe(f)
    f.write_text("name: x\nmodel: {arch: lstm}\ndata: {manifests: [a.csv]}\n")
    r = load_recipe(f, ("train.epochs=3", "model.hparams.hidden=[8, 4]", "cv.scheme=loso"))
    assert (r.train.epochs, r.model.hparams["hidden"], r.cv.scheme) == (3, [8, 4], "loso")
    with pytest.raises(RecipeError, match="expected key.path=value"):
        load_recipe(f, ("train.epochs",))


def test_checkpoint_round_trip_and_refuses_pickles(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from streamser.models import build
    from streamser.checkpoint import CheckpointError, load, read_meta
    from streamser.train.checkpoint import save

    model = build("agate_lstm", 32, 3)
    meta = {"arch": "agate_lstm", "input_dim": 32, "labels": ["a", "b", "c"],
            "frontend": {"features": [{"plugin": "features.is09", "params": {}}], "rate": 16000},
            "normalizer": {"mean": [0.0] * 32, "std": [1.0] * 32}}
    path = save(tmp_path / "m.pt", model, meta)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["labels"] == ["a", "b", "c"] and sidecar["parameters"] > 0
    again, meta2 = load(path)
    x = torch.randn(2, 7, 32)
    lengths = torch.tensor([7, 5])
    model.eval()
    assert torch.allclose(model(x, lengths), again(x, lengths))
    assert read_meta(path)["hparams"] == model.hparams == meta2["hparams"]

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    bad = tmp_path / "evil.pt"
    torch.save({"meta": "{}", "state_dict": {}, "x": Evil()}, bad)
    with pytest.raises(CheckpointError, match="not a loadable checkpoint"):
        load(bad)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load(tmp_path / "missing.pt")


def _small_emodb(tmp_path: Path, per_speaker: int = 8) -> Path:
    """A manifest of a few emodb clips of four speakers and three emotions."""
    src = DATA / "emodb" / "manifest.csv"
    if not src.is_file():
        pytest.skip(f"no data at {DATA}")
    keep = {"anger", "neutral", "sadness"}
    rows, taken = [], {}
    with open(src) as fh:
        for r in csv.DictReader(fh):
            speaker = r["group"]
            if speaker not in taken and len(taken) < 4:
                taken[speaker] = 0
            if r["label"] in keep and taken.get(speaker, per_speaker) < per_speaker:
                taken[speaker] += 1
                rows.append({**r, "path": str(DATA / "emodb" / r["path"])})
    out = tmp_path / "manifest.csv"
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out


def test_train_cv_checkpoint_eval_end_to_end(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("torch")
    monkeypatch.setenv("STREAMSER_CACHE", str(tmp_path / "cache"))
    manifest = _small_emodb(tmp_path)
    ckpt, report = tmp_path / "m.pt", tmp_path / "cv.json"
    r = cli("train", "--model", "agate_lstm", "--data", str(manifest), "--cv",
            "--set", "cv.k=2", "--set", "train.epochs=3", "--set", "model.hparams.hidden=[16]",
            "--out", str(ckpt), "--json", str(report), "-q", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "UA" in r.stdout and "saved" in r.stdout
    cv = json.loads(report.read_text())["cv"]
    assert cv["folds"] == 2 and 0 <= cv["ua"] <= 1
    for fold in cv["fold_scores"]:   # group-independent: each fold's test speakers
        assert len(fold["test_groups"]) == 2
    assert set(cv["fold_scores"][0]["test_groups"]).isdisjoint(cv["fold_scores"][1]["test_groups"])
    out = tmp_path / "eval.json"
    r = cli("eval", str(ckpt), "--data", str(manifest), "-q", timeout=120)
    assert r.returncode == 1 and "were in" in r.stderr       # its own training clips
    r = cli("eval", str(ckpt), "--data", str(manifest), "--json", str(out), "-q",
            "--include-training", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "scored anyway (--include-training)" in r.stdout
    s = json.loads(out.read_text())
    assert {"ua", "wa", "per_class", "confusion"} <= set(s)
    assert sum(map(sum, s["confusion"])) == sum(1 for _ in open(manifest)) - 1
    assert out.with_suffix(".png").stat().st_size > 1000


def test_train_and_eval_errors_are_one_line(tmp_path: Path) -> None:
    r = cli("train")
    assert r.returncode == 1 and r.stderr.startswith("error: give a RECIPE")
    r = cli("eval", "no-such-model", "--data", __file__)
    assert r.returncode == 1 and "no such checkpoint file or bundled model" in r.stderr
    assert "Traceback" not in r.stderr
    f = tmp_path / "r.yaml"
    f.write_text("model: {arch: lstm}\ndata: {manifests: [nowhere/manifest.csv]}\n")
    r = cli("train", str(f), "-q")
    assert r.returncode == 1 and "manifest not found" in r.stderr


def test_models_lists_the_bundled_models_without_torch() -> None:
    from streamser.zoo import bundled
    r = cli("models", "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert [m["name"] for m in listed] == [m.name for m in bundled()]
    for m in listed:
        assert m["labels"] and m["parameters"] > 0 and m["builds"]
        if m["origin"]:     # pretrained elsewhere: origin and license, no recipe of ours
            assert m["license"] and not m["recipe"]
            continue
        # a head on the bundled YAMNet carries the backbone in its builds (float ONNX)
        assert m["size_bytes"] < (20_000_000 if m["arch"] == "yamnet_lstm" else 2_000_000)
        # a recipe of configs/train, or (cry-head) the command that trained it
        assert m["recipe"] and (Path(__file__).parents[1] / m["recipe"]).is_file() or \
            (m["command"] or "").startswith("python -m streamser.train.")
    assert "yamnet" in {m["name"] for m in listed}
    r = cli("models")
    assert r.returncode == 0 and all(m["name"] in r.stdout for m in listed)


@pytest.mark.parametrize("name", ["emodb-ser", "cry-need", "cry-need-cal"])
def test_bundled_model_loads_and_scores(name: str, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("torch")
    from streamser.zoo import bundled
    if name not in {m.name for m in bundled()}:
        pytest.fail(f"bundled model {name} missing from streamser/zoo")
    monkeypatch.setenv("STREAMSER_CACHE", str(tmp_path / "cache"))
    corpus = "emodb" if name == "emodb-ser" else "donateacry"
    src = DATA / corpus / "manifest.csv"
    if not src.is_file():
        pytest.skip(f"no data at {DATA}")
    rows = list(csv.DictReader(src.read_text().splitlines()))[::12]   # a spread of groups
    manifest = tmp_path / "m.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows({**r, "path": str(DATA / corpus / r["path"])} for r in rows)
    out = tmp_path / "e.json"
    r = cli("eval", name, "--data", str(manifest), "--json", str(out), "-q",
            "--include-training", timeout=180)                # its training clips
    assert r.returncode == 0, r.stderr
    s = json.loads(out.read_text())
    assert s["n"] == len(rows) and 0 <= s["ua"] <= 1


def test_crop_takes_a_window_of_longer_items_only() -> None:
    pytest.importorskip("torch")
    from streamser.train.trainer import crop
    rng = np.random.default_rng(0)
    x = np.arange(50)[:, None].astype(np.float32)
    for _ in range(20):
        w = crop(x, 10, rng)
        assert len(w) == 10 and np.array_equal(w[:, 0], np.arange(w[0, 0], w[0, 0] + 10))
    assert crop(x, 80, rng) is x and crop(x, None, rng) is x


def test_train_refuses_a_summary_over_the_checkpoint_metadata(tmp_path) -> None:
    """``--json`` next to ``--out`` with the same stem would overwrite the checkpoint's
    metadata file: refused before any work, in one line."""
    r = cli("train", "configs/train/cry-detector.yaml", "--out", str(tmp_path / "m.pt"),
            "--json", str(tmp_path / "m.json"))
    assert r.returncode == 1 and "metadata" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "m.pt").exists()


def test_train_refuses_group_norm_outside_cross_validation(tmp_path) -> None:
    """Speaker normalization needs each speaker's statistics at run time: a checkpoint
    from a data.group_norm recipe is refused before any work, in one line."""
    r = cli("train", "configs/train/emodb/dblmm.yaml", "--set", "data.group_norm=true",
            "--out", str(tmp_path / "m.pt"))
    assert r.returncode == 1 and "group_norm" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "m.pt").exists()


def test_spec_mask_zeroes_feature_bands_and_time_spans_of_real_patches() -> None:
    """train.masks: each item of a batch of real log-mel patches gets whole mel bands and
    whole frame spans set to 0 (the normalized mean), at most mask_width of each axis per
    mask; the input is left alone and a seed repeats the masks."""
    import soundfile as sf
    import torch
    from streamser.plugins.features.logmel import LogMel
    from streamser.plugins.window import Patch

    from streamser.frames import Frame
    from streamser.train.recipe import TrainSpec
    from streamser.train.trainer import spec_mask

    audio, rate = sf.read(data_file("babycry_esc/crying/1-187207-A.flac"), dtype="float32")
    mel, patch = LogMel(LogMel.Params(), name="m"), Patch(Patch.Params(), name="p")
    mel.start()
    patch.start()
    frame = Frame("audio", audio, t=0.0, meta={"sample_rate": rate})
    patches = np.stack([p.data for f in mel.process(frame) for p in patch.process(f)])
    x = torch.from_numpy((patches - patches.mean()) / patches.std())[None].repeat(4, 1, 1, 1)
    assert x.shape[2:] == (96, 64) and not (x == 0).all(dim=(1, 2)).any()
    spec = TrainSpec(masks=2, mask_width=0.15)
    y = spec_mask(x, spec, np.random.default_rng(0))
    assert y.shape == x.shape and not (x == 0).all(dim=(1, 2)).any()     # input untouched
    for b in range(4):
        bands = int((y[b] == 0).all(dim=(0, 1)).sum())
        frames = int((y[b] == 0).all(dim=(0, 2)).sum())
        assert bands <= 2 * int(0.15 * 64) and frames <= 2 * int(0.15 * 96)
        kept = y[b] != 0
        assert torch.equal(y[b][kept], x[b][kept])                        # the rest as is
    assert any(int((y[b] == 0).all(dim=(0, 1)).sum()) > 0 for b in range(4))
    assert torch.equal(y, spec_mask(x, spec, np.random.default_rng(0)))
