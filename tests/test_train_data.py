"""The training data pipeline on real clips: manifests, the front-end shared with the
streaming nodes, the cache, group splits, augmentation, M4's data balance."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from streamser.frames import Frame
from streamser.train.augment import AugmentSpec, augment, bandlimit
from streamser.train.balance import balanced_patches, plan_balance
from streamser.train.data import FeatureCache, FrontEnd, load_audio, read_manifest
from streamser.train.splits import check_no_leak, group_kfold, holdout, leave_one_group_out

from .conftest import data_file

PLAIN = {"features": [{"plugin": "features.logmel"}], "rate": 16000}


def test_manifests_match_the_readme() -> None:
    counts = Counter(c.label for c in read_manifest(data_file("donateacry/manifest.csv")))
    assert counts == {"hungry": 296, "discomfort": 21, "tired": 20, "belly_pain": 15,
                      "burping": 8}
    emodb = read_manifest(data_file("emodb/manifest.csv"))
    assert len(emodb) == 408 and len({c.group for c in emodb}) == 8
    assert all(c.path.is_file() for c in emodb[:20])
    assert len(read_manifest(data_file("babycry_esc/manifest.csv"), ["noise"])) == 84


def test_emodb_padding_is_trimmed() -> None:
    import soundfile as sf
    padded = [c for c in read_manifest(data_file("emodb/manifest.csv"))[:60]
              if sf.read(c.path)[0][-1] == 0][0]
    assert len(load_audio(padded.path, 16000)) < 2.0 * 16000 - 160


def test_frontend_equals_the_streaming_nodes_and_concatenates() -> None:
    clip = read_manifest(data_file("emodb/manifest.csv"))[0]
    audio = load_audio(clip.path, 16000)
    fe = FrontEnd.from_dict({"features": [{"plugin": "features.logmel"},
                                          {"plugin": "features.lld45"}], "rate": 16000})
    both = fe.extract(audio)
    assert both.shape[1] == 64 + 45
    node = FrontEnd.from_dict(PLAIN).nodes()[0]       # the same node, fed in random blocks
    rng, pos, rows = np.random.default_rng(0), 0, []
    while pos < len(audio):
        n = int(rng.integers(1, 4000))
        rows += [f.data for f in node.process(Frame("audio", audio[pos:pos + n], t=pos / 16000,
                                                    meta={"sample_rate": 16000}))]
        pos += n
    rows += [f.data for f in node.flush()]
    streamed = np.concatenate(rows)
    assert np.abs(streamed[:len(both)] - both[:, :64]).max() < 1e-6
    patched = FrontEnd.from_dict({**PLAIN, "patch": {"hop": 0.48}}).extract(audio)
    assert patched.shape == (1 + (len(streamed) - 96) // 48, 96, 64)
    assert FrontEnd.from_dict({**PLAIN, "patch": {"hop": 0.48}}).extract(audio[:8000]).shape \
        == (1, 96, 64)                                 # shorter than 0.96 s: zero-padded


def test_cache_computes_once(tmp_path: Path) -> None:
    clip = read_manifest(data_file("donateacry/manifest.csv"))[0]
    cache, fe = FeatureCache(tmp_path), FrontEnd.from_dict(PLAIN)
    a = cache.features(clip, fe)
    b = cache.features(clip, fe)
    assert cache.computed == 1 and np.array_equal(a, b)
    spec = AugmentSpec(noise_manifest=str(data_file("babycry_esc/manifest.csv")), copies=1)
    c = cache.features(clip, fe, spec, copy=1)
    assert cache.computed == 2 and c.shape == a.shape and not np.array_equal(a, c)


def test_group_splits_never_leak() -> None:
    emodb = read_manifest(data_file("emodb/manifest.csv"))
    groups = np.array([c.group for c in emodb])
    folds = leave_one_group_out(groups)
    assert len(folds) == 8 and all(len(set(groups[te])) == 1 for _, te in folds)
    check_no_leak(folds, groups)
    cries = read_manifest(data_file("donateacry/manifest.csv"))
    labels = sorted({c.label for c in cries})
    y = np.array([labels.index(c.label) for c in cries])
    g = np.array([c.group for c in cries])
    folds = group_kfold(y, g, 5, seed=0)
    check_no_leak(folds, g)
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(len(y)))
    tr, va = holdout(y, g, 0.15, seed=0)
    assert not set(g[tr]) & set(g[va]) and 0.05 < len(va) / len(y) < 0.4
    with pytest.raises(ValueError, match="on both sides"):
        check_no_leak([(np.arange(10), np.arange(5, 15))], g)


def test_augmentation_is_deterministic_and_band_limits() -> None:
    clip = read_manifest(data_file("emodb/manifest.csv"))[3]
    x = load_audio(clip.path, 16000)
    spec = AugmentSpec(noise_manifest=str(data_file("babycry_esc/manifest.csv")),
                       noise_prob=1.0, bandlimit_prob=1.0, snr_db=(10, 10), gain_db=(0, 0))
    a = augment(x, 16000, spec, np.random.default_rng([0, 1]))
    b = augment(x, 16000, spec, np.random.default_rng([0, 1]))
    assert np.array_equal(a, b) and len(a) == len(x)
    spectrum = np.abs(np.fft.rfft(a)) ** 2
    freqs = np.fft.rfftfreq(len(a), 1 / 16000)
    assert spectrum[freqs > 4100].sum() < 1e-4 * spectrum.sum()
    narrow = bandlimit(x, 16000)
    noise = augment(x, 16000, AugmentSpec(noise_manifest=spec.noise_manifest, noise_prob=1.0,
                                          bandlimit_prob=0.0, snr_db=(10, 10), gain_db=(0, 0)),
                    np.random.default_rng(5)) - x
    snr = 10 * np.log10(np.mean(x ** 2) / np.mean(noise ** 2))
    assert abs(snr - 10) < 0.5 and len(narrow) == len(x)


def test_m4_balance_evens_out_donateacry(tmp_path: Path) -> None:
    clips = read_manifest(data_file("donateacry/manifest.csv"))
    labels = sorted({c.label for c in clips})
    y = np.array([labels.index(c.label) for c in clips])
    frames = [len(load_audio(c.path, 8000)) // 80 - 1 for c in clips]   # 10 ms rows
    plan = plan_balance(frames, y, len(labels))
    balanced = [plan[k].patches for k in range(len(labels))]
    plain = [sum(1 + (n - 96) // 48 for n, k in zip(frames, y) if k == c)
             for c in range(len(labels))]
    assert max(plain) / min(plain) > 10                 # hungry dwarfs burping
    assert max(balanced) / min(balanced) < 3            # 0.24 s hop floor limits burping
    x = np.arange(300 * 2, dtype=np.float32).reshape(300, 2)
    assert balanced_patches(x, 24).shape == (1 + (300 - 96) // 24, 96, 2)
    ends = balanced_patches(x, 48, first_last_only=True)
    assert np.array_equal(ends[0], x[:96]) and np.array_equal(ends[1], x[-96:])
