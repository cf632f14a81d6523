"""The training data pipeline on real clips: manifests, the front-end shared with the
streaming nodes, the cache, group splits, augmentation, M4's data balance."""
from __future__ import annotations

import json
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from streamser.registry import load as load_plugin
from streamser.train.augment import AugmentSpec, augment, bandlimit, change_speed
from streamser.train.balance import balanced_patches, patch_count, plan_balance
from streamser.frontend import FrontEnd
from streamser.train.clips import Clip, load_audio, read_manifest
from streamser.train.data import FeatureCache, Normalizer, class_weights, load_dataset
from streamser.train.splits import check_no_leak, group_kfold, holdout, leave_one_group_out

from .conftest import data_file, feed, rows

LOGMEL = {"features": [{"plugin": "features.logmel"}], "rate": 16000}
M2 = {"features": [{"plugin": "features.logmel"}, {"plugin": "features.lld45"}],
      "rate": 16000}
PATCHED = {**LOGMEL, "patch": {"hop": 0.48}}


def _labels(clips: list[Clip]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    labels = sorted({c.label for c in clips})
    return (np.array([labels.index(c.label) for c in clips]),
            np.array([c.group for c in clips]), labels)


def test_manifests_match_the_readme(tmp_path: Path) -> None:
    cries = read_manifest(data_file("donateacry/manifest.csv"))
    assert Counter(c.label for c in cries) == {"hungry": 296, "discomfort": 21, "tired": 20,
                                               "belly_pain": 15, "burping": 8}
    emodb = read_manifest(data_file("emodb/manifest.csv"))
    assert Counter(c.label for c in emodb) == {"anger": 100, "neutral": 63, "boredom": 58,
                                               "fear": 54, "happiness": 54, "sadness": 49,
                                               "disgust": 30}
    assert len({c.group for c in emodb}) == 8
    esc = read_manifest(data_file("babycry_esc/manifest.csv"))
    assert Counter(c.label for c in esc) == {"crying": 91, "laugh": 88, "silence": 88,
                                             "noise": 84}
    for c in cries + emodb + esc:
        assert c.path.is_absolute() and c.path.is_file()
    assert cries[0].extras["sample_rate"] == "8000" and "gender" in emodb[0].extras
    noise = read_manifest(data_file("babycry_esc/manifest.csv"), ["noise", "laugh"])
    assert {c.label for c in noise} == {"noise", "laugh"} and len(noise) == 84 + 88
    with pytest.raises(ValueError, match="not found"):
        read_manifest(tmp_path / "nowhere.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\na.flac,x\n")
    with pytest.raises(ValueError, match="group"):
        read_manifest(bad)


def test_emodb_padding_is_trimmed() -> None:
    import soundfile as sf
    clips = read_manifest(data_file("emodb/manifest.csv"))[:60]
    padded = next(c for c in clips if sf.read(c.path)[0][-1] == 0)
    full = next(c for c in clips if sf.read(c.path)[0][-1] != 0)
    x = load_audio(padded.path, 16000)
    assert x.dtype == np.float32 and x.ndim == 1
    assert len(x) < 2.0 * 16000 - 160 and x[-1] != 0
    assert abs(len(load_audio(full.path, 16000)) - 32000) <= 1     # cut clips keep 2.0 s
    assert len(load_audio(padded.path, 22050)) == np.flatnonzero(sf.read(padded.path)[0])[-1] + 1


def test_frontend_equals_the_streaming_nodes_in_random_blocks() -> None:
    clip = read_manifest(data_file("emodb/manifest.csv"))[0]
    audio = load_audio(clip.path, 16000)
    fe = FrontEnd.from_dict(M2)
    both = fe.extract(audio)
    assert both.shape[1] == 64 + 45 == fe.dims and both.dtype == np.float32
    rng = np.random.default_rng(0)
    streamed = []
    for node in fe.nodes():                        # the same nodes, fed in random blocks
        sizes = [int(n) for n in rng.integers(1, 4000, 50)]
        streamed.append(rows(feed(node, audio, 16000, sizes)))
    n = min(len(s) for s in streamed)
    assert len(both) == n
    assert np.abs(np.concatenate([s[:n] for s in streamed], axis=1) - both).max() < 1e-6
    # the JSON form round-trips, and the key is stable and sensitive
    assert FrontEnd.from_dict(json.loads(json.dumps(fe.to_dict()))) == fe
    assert FrontEnd.from_dict(fe.to_dict()).key() == fe.key() != FrontEnd.from_dict(LOGMEL).key()
    with pytest.raises(Exception, match="unknown plugin"):
        FrontEnd.from_dict({"features": [{"plugin": "features.nope"}]})


def test_patch_frontend_is_window_patch_after_the_features() -> None:
    clip = read_manifest(data_file("emodb/manifest.csv"))[1]
    audio = load_audio(clip.path, 16000)
    frames = FrontEnd.from_dict(LOGMEL).extract(audio)
    fe = FrontEnd.from_dict(PATCHED)
    patched = fe.extract(audio)
    assert fe.dims == (96, 64)
    assert patched.shape == (1 + (len(frames) - 96) // 48, 96, 64)
    # streaming: logmel in blocks, its feature frames into window.patch
    node = FrontEnd.from_dict(LOGMEL).nodes()[0]
    patch_cls = load_plugin("window.patch")
    patcher = patch_cls(patch_cls.Params(frames=96, hop=48), "window.patch")
    patcher.start()
    out = [p for f in feed(node, audio, 16000, [1234, 567]) for p in patcher.process(f)]
    assert np.abs(np.stack([p.data for p in out]) - patched).max() < 1e-6
    short = fe.extract(audio[:8000])               # 0.5 s < 0.96 s: zero-padded to one
    assert short.shape == (1, 96, 64)
    n = len(FrontEnd.from_dict(LOGMEL).extract(audio[:8000]))
    assert np.all(short[0, n:] == 0) and np.array_equal(short[0, :n], frames[:n])
    assert FrontEnd.from_dict(LOGMEL).extract(audio[:100]).shape[0] >= 1   # < one window


def test_cache_computes_once_and_keys_the_copy(tmp_path: Path) -> None:
    clip = read_manifest(data_file("donateacry/manifest.csv"))[0]
    cache, fe = FeatureCache(tmp_path), FrontEnd.from_dict(LOGMEL)
    a = cache.features(clip, fe)
    path = cache.path(clip, fe)
    mtime = path.stat().st_mtime_ns
    c2 = FeatureCache(tmp_path)
    b = c2.features(clip, fe)
    assert cache.computed == 1 and c2.computed == 0 and c2.loaded == 1
    assert np.array_equal(a, b) and path.stat().st_mtime_ns == mtime
    assert list(path.parent.glob("*.tmp")) == []
    spec = AugmentSpec(noise_manifest=str(data_file("babycry_esc/manifest.csv")),
                       noise_prob=1.0, copies=2)
    assert np.array_equal(cache.features(clip, fe, spec, copy=0), a)     # copy 0 is clean
    c1 = cache.features(clip, fe, spec, copy=1)
    c2a = cache.features(clip, fe, spec, copy=2)
    assert cache.computed == 3 and c1.shape == a.shape
    assert not np.array_equal(a, c1) and not np.array_equal(c1, c2a)
    # copy c is augment() with default_rng([seed, crc32(path), c])
    rng = np.random.default_rng([spec.seed, zlib.crc32(str(clip.path).encode()), 1])
    again = fe.extract(augment(load_audio(clip.path, 16000), 16000, spec, rng))
    assert np.array_equal(again, c1)


def test_load_dataset_and_normalizer(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STREAMSER_CACHE", str(tmp_path / "cache"))
    cries = read_manifest(data_file("donateacry/manifest.csv"))
    picked = [c for lab in ("burping", "tired") for c in cries if c.label == lab][::4]
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,group\n" + "".join(
        f"{c.path},{c.label},{c.group}\n" for c in picked))
    fe = FrontEnd.from_dict(PATCHED)
    cache = FeatureCache()
    assert cache.root == tmp_path / "cache"
    items, y, groups, labels, clips = load_dataset(manifest, fe, cache, progress=True)
    assert [c.path for c in clips] == [c.path for c in picked]
    assert labels == ["burping", "tired"] and len(items) == len(picked) == cache.computed
    assert y.tolist() == [labels.index(c.label) for c in picked]
    assert groups.tolist() == [c.group for c in picked]
    assert all(x.shape[1:] == (96, 64) for x in items)
    _, y2, _, labels2, _ = load_dataset([manifest], fe, cache, labels=["tired", "burping"],
                                        progress=False)
    assert labels2 == ["tired", "burping"] and (y2 == 1 - y).all() and cache.loaded == len(y)
    norm = Normalizer().fit(items)
    assert norm.mean.shape == norm.std.shape == (64,)            # per mel band
    z = np.concatenate([norm.apply(x) for x in items]).reshape(-1, 64)
    assert np.allclose(z.mean(0), 0, atol=1e-3) and np.allclose(z.std(0), 1, atol=1e-3)
    back = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert np.array_equal(back.apply(items[0]), norm.apply(items[0]))
    flat = Normalizer().fit([np.ones((5, 3), np.float32)])
    assert np.all(flat.std == np.float32(1e-5))
    w = class_weights(np.array([0, 0, 0, 1]), 3)
    assert np.allclose(w[:2].mean(), 1) and w[1] == 3 * w[0] and w[2] == 0


def test_group_splits_never_leak() -> None:
    emodb = read_manifest(data_file("emodb/manifest.csv"))
    groups = np.array([c.group for c in emodb])
    folds = leave_one_group_out(groups)
    assert len(folds) == 8 and all(len(set(groups[te])) == 1 for _, te in folds)
    assert sorted(groups[te][0] for _, te in folds) == sorted(set(groups))
    check_no_leak(folds, groups)

    y, g, labels = _labels(read_manifest(data_file("donateacry/manifest.csv")))
    folds = group_kfold(y, g, 5, seed=0)
    check_no_leak(folds, g)
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(len(y)))
    for c, name in enumerate(labels):          # every class has >= 6 groups here
        assert len(set(g[y == c])) >= 5
        assert all(np.any(y[te] == c) for _, te in folds), name
    assert [te.tolist() for _, te in folds] == [te.tolist() for _, te in group_kfold(y, g, 5, 0)]
    assert [te.tolist() for _, te in folds] != [te.tolist() for _, te in group_kfold(y, g, 5, 1)]
    tr, va = holdout(y, g, 0.15, seed=0)
    assert not set(g[tr]) & set(g[va]) and 0.05 < len(va) / len(y) < 0.4
    assert len(tr) + len(va) == len(y)
    with pytest.raises(ValueError, match="on both sides"):
        check_no_leak([(np.arange(10), np.arange(5, 15))], g)
    with pytest.raises(ValueError, match="at least 5 groups"):
        group_kfold(y[:4], g[:4], 5)

    # babycry_esc: laugh and silence are one recording each, so one test fold holds all
    ye, ge, le = _labels(read_manifest(data_file("babycry_esc/manifest.csv")))
    folds = group_kfold(ye, ge, 5, seed=0)
    check_no_leak(folds, ge)
    for name in ("laugh", "silence"):
        assert sum(np.any(ye[te] == le.index(name)) for _, te in folds) == 1
    assert all(np.any(ye[te] == le.index("noise")) for _, te in folds)
    # fallback: every class has fewer clips than k
    fb = group_kfold(np.arange(6), np.array(list("aabbcc")), 3, seed=0)
    check_no_leak(fb, np.array(list("aabbcc")))
    assert len(fb) == 3


def test_augmentation_is_deterministic_band_limits_and_hits_the_snr() -> None:
    clip = read_manifest(data_file("emodb/manifest.csv"))[3]
    x = load_audio(clip.path, 16000)
    esc = str(data_file("babycry_esc/manifest.csv"))
    spec = AugmentSpec(noise_manifest=esc, noise_prob=1.0, bandlimit_prob=1.0,
                       snr_db=(10, 10), gain_db=(0, 0))
    a = augment(x, 16000, spec, np.random.default_rng([0, 1]))
    b = augment(x, 16000, spec, np.random.default_rng([0, 1]))
    c = augment(x, 16000, spec, np.random.default_rng([0, 2]))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert len(a) == len(x) and a.dtype == np.float32 and np.abs(a).max() <= 1
    spectrum = np.abs(np.fft.rfft(a)) ** 2
    freqs = np.fft.rfftfreq(len(a), 1 / 16000)
    assert spectrum[freqs > 4100].sum() < 1e-4 * spectrum.sum()
    assert len(bandlimit(x, 16000)) == len(x)
    plain = AugmentSpec(noise_manifest=esc, noise_prob=1.0, bandlimit_prob=0.0,
                        snr_db=(10, 10), gain_db=(0, 0))
    for snr in (0.0, 10.0, 20.0):
        spec_snr = AugmentSpec(**{**plain.to_dict(), "snr_db": (snr, snr)})
        noise = augment(x, 16000, spec_snr, np.random.default_rng(5)) - x
        measured = 10 * np.log10(np.mean(x ** 2) / np.mean(noise ** 2))
        assert abs(measured - snr) < 0.5, (snr, measured)
    # JSON form, and excluded noise groups are never drawn
    assert AugmentSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    laugh = AugmentSpec(noise_manifest=esc, noise_labels=("laugh",), noise_prob=1.0)
    groups = {c.group for c in read_manifest(esc, ["laugh"])}
    with pytest.raises(ValueError, match="no noise clips"):
        augment(x, 16000, laugh, np.random.default_rng(0), exclude_groups=sorted(groups))


def test_speed_perturbation_shifts_a_cry_s_pitch_and_length() -> None:
    """Played 1.25x faster, a real cry is 1/1.25 as long and its F0 1.25x higher; with
    speed_prob 0 nothing is drawn, so copies (and the cache key) stay as before."""
    from streamser.dsp.pitch import yin
    clip = read_manifest(data_file("babycry_esc/manifest.csv"), ["crying"])[0]
    x = load_audio(clip.path, 16000)
    fast = change_speed(x, 1.25)
    assert abs(len(fast) - len(x) / 1.25) <= 2

    def median_f0(a: np.ndarray) -> float:
        frames = np.lib.stride_tricks.sliding_window_view(a, 1024)[::256]
        f0, p = yin(frames, 16000, 150.0, 1000.0)
        return float(np.median(f0[p > 0.8]))
    assert median_f0(fast) / median_f0(x) == pytest.approx(1.25, rel=0.05)
    spec = AugmentSpec(speed=(0.5, 2.0), speed_prob=1.0, gain_db=(0, 0), bandlimit_prob=0.0)
    lengths = {len(augment(x, 16000, spec, np.random.default_rng(i))) for i in range(6)}
    assert len(lengths) == 6 and all(len(x) / 2 - 2 <= n <= 2 * len(x) + 2 for n in lengths)
    off = AugmentSpec(speed=(0.5, 2.0))
    assert off.key() == AugmentSpec().key() != spec.key()
    rng = np.random.default_rng(3)                 # the draws before speed existed
    gained = x.astype(np.float64) * 10 ** (rng.uniform(-6, 6) / 20)
    before = bandlimit(gained, 16000) if rng.random() < 0.5 else gained
    assert np.array_equal(augment(x, 16000, off, np.random.default_rng(3)),
                          np.clip(before, -1, 1).astype(np.float32))
    with pytest.raises(ValueError, match="speed"):
        AugmentSpec(speed=(0.0, 1.0))


def test_m4_balance_evens_out_donateacry() -> None:
    clips = read_manifest(data_file("donateacry/manifest.csv"))
    y, _, labels = _labels(clips)
    frames = [1 + (len(load_audio(c.path, 16000)) - 400) // 160 for c in clips]  # F1 rows
    plain = [sum(patch_count(n, 48) for n, k in zip(frames, y) if k == c)
             for c in range(len(labels))]
    plan = plan_balance(frames, y, len(labels))
    balanced = [plan[k].patches for k in range(len(labels))]
    finer = [p.patches for p in plan_balance(frames, y, len(labels), min_hop=12).values()]
    print(f"\npatches per class {labels}: window.patch {plain}, balanced {balanced}, "
          f"balanced with min_hop=12 {finer}")
    assert max(plain) / min(plain) > 10                 # hungry dwarfs burping
    hungry, burping = labels.index("hungry"), labels.index("burping")
    assert plan[hungry].first_last_only and plan[hungry].patches == 2 * 296
    assert plan[burping].hop_frames == 24 and not plan[burping].first_last_only
    # the bounds (0.24 s hop, first and last patch) cap the spread at 592 / 208:
    assert max(balanced) / min(balanced) < 3
    assert max(finer) / min(finer) < 2
    for k, p in plan.items():                           # the plan's counts are the cut's
        x = np.zeros((frames[int(np.flatnonzero(y == k)[0])], 2), np.float32)
        assert len(balanced_patches(x, p.hop_frames, p.first_last_only)) == \
            patch_count(len(x), p.hop_frames, p.first_last_only)
    x = np.arange(300 * 2, dtype=np.float32).reshape(300, 2)
    assert balanced_patches(x, 24).shape == (1 + (300 - 96) // 24, 96, 2)
    ends = balanced_patches(x, 48, first_last_only=True)
    assert np.array_equal(ends[0], x[:96]) and np.array_equal(ends[1], x[-96:])
    assert balanced_patches(x[:50], 24).shape == (1, 96, 2)


def test_test_split_noise_is_never_mixed_in_and_noise_gets_extra_copies() -> None:
    """With data.test_groups_k, the noise clips of the fixed test split (what mkstream
    --test-k plays) stay out of the augmentation's noise bank; extra_copies adds
    augmented copies of the clips whose manifest label is named (before label_map)."""
    from streamser.train.experiment import augment_spec
    from streamser.train.recipe import load_recipe
    from streamser.train.splits import is_test_group

    root = Path(__file__).resolve().parents[1]
    recipe = load_recipe(root / "configs/train/cry-detector.yaml",
                         (f"data.data_root={data_file('.')}",))
    spec = augment_spec(recipe)
    noise = [c for c in read_manifest(spec.noise_manifest) if c.label == "noise"]
    test = {c.group for c in noise if is_test_group(c.group, recipe.data.test_groups_k)}
    assert test and test <= set(spec.exclude_groups)
    assert not set(spec.exclude_groups) & {c.group for c in noise} - test
    clips = read_manifest(data_file("babycry_esc/manifest.csv"), label_map=recipe.data.label_map)
    by_label = {c.extras["manifest_label"]: spec.copies_for(c.extras["manifest_label"])
                for c in clips}
    assert {c.label for c in clips} == {"cry", "other"}
    assert by_label["noise"] == spec.copies + 6 and by_label["laugh"] == spec.copies


def test_group_norm_standardizes_each_speaker_with_its_own_clips() -> None:
    """data.group_norm: each emodb speaker's frames are standardized with statistics of
    that speaker's clips alone (mean 0, std 1 per feature afterwards), on real features."""
    from streamser.train.data import Normalizer
    from streamser.train.experiment import load_data
    from streamser.train.recipe import load_recipe

    recipe = Path(__file__).resolve().parents[1] / "configs/train/emodb/svm.yaml"
    root = f"data.data_root={data_file('.')}"
    raw = load_data(load_recipe(recipe, (root,)), progress=False)
    data = load_data(load_recipe(recipe, (root, "data.group_norm=true")), progress=False)
    assert raw.group_norms is None and data.group_norms is not None
    assert len(set(data.groups)) == 8
    for g in set(data.groups):
        mine = [i for i, h in enumerate(data.groups) if h == g]
        own = Normalizer().fit([raw.items[i] for i in mine])
        for i in mine[:5]:
            np.testing.assert_allclose(data.items[i], own.apply(raw.items[i]), atol=1e-5)
        rows = np.concatenate([data.items[i] for i in mine])
        np.testing.assert_allclose(rows.mean(0), 0, atol=1e-3)
        spread = rows.std(0)
        np.testing.assert_allclose(spread[spread > 1e-3], 1, atol=1e-2)


def test_svm_grid_is_chosen_inside_the_training_speakers(monkeypatch) -> None:
    """An SVM hyper-parameter given as a list is picked by an inner group k-fold over the
    training speakers only: the held-out speaker's clips never reach the search."""
    import sklearn.model_selection as ms

    from streamser.train.experiment import load_data, train_one
    from streamser.train.recipe import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[1] / "configs/train/emodb/svm.yaml",
                         (f"data.data_root={data_file('.')}", "model.hparams.C=[0.01,10]"))
    data = load_data(recipe, progress=False)
    held_out = data.groups[0]
    train_idx = np.flatnonzero(data.groups != held_out)
    seen: list[set] = []
    real_fit = ms.GridSearchCV.fit

    def spy(self, X, y=None, *, groups=None, **kw):
        seen.append(set(groups.tolist()))
        assert len(X) == len(train_idx)
        return real_fit(self, X, y, groups=groups, **kw)

    monkeypatch.setattr(ms.GridSearchCV, "fit", spy)
    trained = train_one(recipe, data, train_idx)
    assert seen == [set(data.groups[train_idx].tolist())] and held_out not in seen[0]
    assert trained.fit["chosen"] == {"C": 10}       # C=0.01 underfits 7 classes badly
