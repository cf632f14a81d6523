"""LLD front-ends F3 (features.lld45) and F4 (features.is09) on real audio: streaming ==
one block, F3 against librosa, F4's F0 against librosa.pyin and F4 against openSMILE's
IS09_emotion.conf. Run with ``-s`` to see the measured figures (docs/features.md)."""
from __future__ import annotations

import csv
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import opensmile
import pytest
import soundfile as sf
from conftest import DATA, data_file, feed, rows
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import uniform_filter1d
from streamser.plugins.features.is09 import LLDS, Is09
from streamser.plugins.features.lld45 import NAMES, Lld45

from streamser.dsp.lld import CenteredFir, DeltaStack, next_pow2, samples
from streamser.node import Node

CRIES = ("babycry_esc/crying/1-187207-A.flac", "babycry_esc/crying/1-211527-A.flac")
IS09_CONF = Path(opensmile.__file__).parent / "core/config/is09-13/IS09_emotion.conf"
SMILE_NAMES = (["pcm_zcr_sma", "pcm_RMSenergy_sma", "F0_sma", "voiceProb_sma"] +
               [f"pcm_fftMag_mfcc_sma[{i}]" for i in range(1, 13)])


# ---- audio and node helpers ----------------------------------------------------------

def emodb_clips() -> list[str]:
    """One clip per emodb speaker (the first by name): 8 clips, 4 female, 4 male."""
    first: dict[str, str] = {}
    with open(data_file("emodb/manifest.csv")) as fh:
        for row in csv.DictReader(fh):
            first[row["group"]] = min(first.get(row["group"], row["path"]), row["path"])
    return [f"emodb/{first[g]}" for g in sorted(first)]


@lru_cache(maxsize=32)
def load(rel: str) -> tuple[np.ndarray, int]:
    """float32 mono and its rate; emodb's trailing zero padding trimmed."""
    x, rate = sf.read(data_file(rel), dtype="float32")
    if rel.startswith("emodb/"):
        x = x[:np.flatnonzero(x)[-1] + 1]
    return x, rate


def make(cls: type[Node], **params: Any) -> Node:
    node = cls(cls.Params(**params), "test")
    node.start()
    return node




def offline(cls: type[Node], x: np.ndarray, rate: int, **params: Any) -> np.ndarray:
    node = make(cls, **params)
    return rows(feed(node, x, rate, [len(x)]))


def table(title: str, header: list[str], lines: list[list[Any]]) -> None:
    """Print a markdown table (seen with ``pytest -s``)."""
    print(f"\n{title}\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for line in lines:
        print("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v)
                                for v in line) + " |")


# ---- streaming == offline ------------------------------------------------------------

@pytest.mark.parametrize("cls", [Lld45, Is09])
@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.one_of(st.integers(1, 400), st.integers(1, 16000)), min_size=1,
                      max_size=6))
def test_any_blocks_equal_one_block(cls: type[Node], sizes: list[int]) -> None:
    x, rate = load(CRIES[0])
    x = x[:rate // 2] if min(sizes) < 50 else x[:rate]   # 1-sample blocks: 0.5 s
    node = make(cls)
    frames = feed(node, x, rate, sizes)
    whole = offline(cls, x, rate)
    assert np.array_equal(rows(frames), whole)
    hop = frames[0].meta["hop"]
    assert frames[0].t == 0.0
    for a, b in zip(frames, frames[1:]):
        assert b.t == pytest.approx(a.t + len(a.data) * hop)
    assert frames[-1].meta["upto"] == pytest.approx(len(x) / rate)


@pytest.mark.parametrize("cls", [Lld45, Is09])
def test_gap_restarts_segment(cls: type[Node]) -> None:
    x, rate = load(CRIES[0])
    a, b = x[:rate // 2], x[rate:rate + rate // 2]
    node = make(cls)
    before = feed(node, a, rate, [999], flush=False)
    out = feed(node, b, rate, [700], t0=3.0, gap=True)
    tail = [f for f in out if f.t < 3.0]  # rows held back for deltas, emitted at the gap
    after = [f for f in out if f.t >= 3.0]
    assert np.array_equal(rows(before + tail), offline(cls, a, rate))
    assert after[0].meta["gap"] is True and after[0].t == 3.0
    assert np.array_equal(rows(after), offline(cls, b, rate))


@given(n=st.integers(1, 40), cuts=st.lists(st.integers(0, 40), max_size=5),
       order=st.integers(1, 2))
@settings(max_examples=60, deadline=None)
def test_streaming_deltas_match_librosa(n: int, cuts: list[int], order: int) -> None:
    x = np.random.default_rng(n).standard_normal((n, 3))
    ref, level = [x], x
    for _ in range(order):
        level = librosa.feature.delta(level, width=5, mode="nearest", axis=0)
        ref.append(level)
    stack = DeltaStack(order)
    got = [stack.push(part) for part in np.split(x, sorted(c for c in cuts if c <= n))]
    got = np.concatenate(got + [stack.finish()])
    np.testing.assert_allclose(got, np.hstack(ref), atol=1e-12)
    sma = CenteredFir(np.full(3, 1 / 3))
    smooth = np.concatenate([sma.push(x[:n // 2]), sma.push(x[n // 2:]), sma.finish()])
    np.testing.assert_allclose(smooth, uniform_filter1d(x, 3, axis=0, mode="nearest"),
                               atol=1e-12)


# ---- F3 against librosa --------------------------------------------------------------

def librosa_lld45(x: np.ndarray, rate: int) -> np.ndarray:
    """The 45 columns from librosa, framed as ours (frame k = samples [k hop, k hop + win)).

    librosa centres a ``win``-sample window in each ``n_fft``-sample frame, so the signal
    is shifted right by the left half of that padding (and padded at the end by the rest).
    """
    win, hop = samples(0.025, rate), samples(0.010, rate)
    n_fft = next_pow2(win)
    left = (n_fft - win) // 2
    y = np.pad(x, (left, n_fft - win - left))
    kw = dict(y=y, n_fft=n_fft, hop_length=hop, win_length=win, window="hamming",
              center=False)
    mel = librosa.feature.melspectrogram(sr=rate, n_mels=40, power=2.0, **kw)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=13)
    d = librosa.feature.delta(mfcc, width=5, mode="nearest")
    dd = librosa.feature.delta(d, width=5, mode="nearest")
    raw = dict(y=x, frame_length=win, hop_length=hop, center=False)
    singles = [librosa.feature.zero_crossing_rate(**raw), librosa.feature.rms(**raw),
               librosa.feature.spectral_centroid(sr=rate, **kw),
               librosa.feature.spectral_bandwidth(sr=rate, **kw),
               librosa.feature.spectral_flatness(**kw),
               librosa.feature.spectral_rolloff(sr=rate, **kw)]
    return np.vstack([mfcc, d, dd] + singles).T


def test_lld45_matches_librosa(phone_clip: Path) -> None:
    groups = {"mfcc0-12": slice(0, 13), "d_mfcc": slice(13, 26), "dd_mfcc": slice(26, 39),
              **{name: slice(39 + i, 40 + i) for i, name in enumerate(NAMES[39:])}}
    errors: dict[str, list[np.ndarray]] = {name: [] for name in groups}
    scale: dict[str, float] = {name: 0.0 for name in groups}
    clips = [emodb_clips()[0], CRIES[0], str(phone_clip.relative_to(DATA))]
    for rel in clips:
        x, rate = load(rel)
        ours, ref = offline(Lld45, x, rate), librosa_lld45(x, rate)
        assert ours.shape == ref.shape
        for name, cols in groups.items():
            errors[name].append(np.abs(ours[:, cols] - ref[:, cols]).ravel())
            scale[name] = max(scale[name], float(np.abs(ref[:, cols]).max()))
    lines = []
    for name, errs in errors.items():
        e = np.concatenate(errs)
        lines.append([name, float(e.max()), float(np.median(e)), float(e.max() / scale[name])])
        if name == "rolloff":   # a bin boundary may fall either side in float32 librosa
            assert np.mean(e > 0) < 0.01
        elif name.startswith(("mfcc", "d_", "dd_")):
            assert e.max() < 1e-3, name
        else:
            assert e.max() / scale[name] < 1e-5, name
    table(f"F3 vs librosa ({', '.join(clips)}; 22.05, 16, 8 kHz)",
          ["LLD", "max abs err", "median abs err", "max err / max |ref|"], lines)


# ---- F4: F0 against pyin, all LLDs against openSMILE IS09 ---------------------------

@lru_cache(maxsize=16)
def pyin(rel: str) -> tuple[np.ndarray, np.ndarray]:
    """librosa.pyin F0 and voiced flag on exactly our rows' 45 ms analysis windows."""
    x, rate = load(rel)
    p = Is09.Params()
    f0, voiced, _ = librosa.pyin(x, fmin=p.f0_min, fmax=p.f0_max, sr=rate,
                                 frame_length=samples(0.025, rate) + 2 * samples(0.01, rate),
                                 hop_length=samples(0.01, rate), center=False)
    return f0, voiced


F0_HEADER = ["frames", "median rel err (both voiced)", "> 20 % off", "of those, octaves",
             "voicing agreement", "voiced for it only", "voiced for pyin only"]


def f0_agreement(clips: list[str], f0_of: Any) -> tuple[float, list[Any]]:
    """The median relative error of ``f0_of(rel)`` (0 = unvoiced) against pyin where both
    are voiced, and the cells of F0_HEADER ("octaves": the ratio within 10 % of 2 or 1/2)."""
    ratio, ours, theirs = [], [], []
    for rel in clips:
        ref, ref_voiced = pyin(rel)
        f0 = f0_of(rel)[:len(ref)]
        ref, ref_voiced = ref[:len(f0)], ref_voiced[:len(f0)]
        both = (f0 > 0) & ref_voiced
        ratio.append(f0[both] / ref[both])
        ours.append(f0 > 0)
        theirs.append(ref_voiced)
    r, v, pv = np.concatenate(ratio), np.concatenate(ours), np.concatenate(theirs)
    err = np.abs(r - 1)
    octave = (np.abs(r / 2 - 1) < 0.1) | (np.abs(2 * r - 1) < 0.1)
    pct = [np.median(err), np.mean(err > 0.2), np.sum(octave) / max(1, np.sum(err > 0.2)),
           np.mean(v == pv), np.mean(v & ~pv), np.mean(~v & pv)]
    return float(np.median(err)), [len(v)] + [f"{100 * x:.{2 if i == 0 else 1}f} %"
                                               for i, x in enumerate(pct)]


def ours_f0(rel: str) -> np.ndarray:
    return offline(Is09, *load(rel), smooth=False)[:, LLDS.index("f0")]


@pytest.mark.slow
def test_f0_matches_pyin() -> None:
    lines = []
    for name, clips in (("emodb speech", emodb_clips()), ("infant cries", list(CRIES))):
        median, cells = f0_agreement(clips, ours_f0)
        lines.append([name, len(clips), *cells])
        assert median < 0.05, name
    table("F4 F0 (features.is09, smooth=false) vs librosa.pyin, same 45 ms windows",
          ["clips", "n", *F0_HEADER], lines)


def unsmoothed_is09(dest: Path) -> Path:
    """A copy of openSMILE's configs with IS09's 3-frame LLD smoothing off (smaWin = 1)."""
    shutil.copytree(IS09_CONF.parents[1], dest / "config")
    inc = dest / "config/is09-13/IS09_emotion_core.lld.conf.inc"
    inc.write_text(inc.read_text().replace("smaWin = 3", "smaWin = 1"))
    return dest / "config/is09-13/IS09_emotion.conf"


@lru_cache(maxsize=32)
def smile(rel: str, conf: Path = IS09_CONF) -> tuple[np.ndarray, np.ndarray]:
    """openSMILE IS09 LLDs and deltas, row j = the 25 ms frame starting at j hop."""
    x, rate = load(rel)
    out = []
    for level, names in (("lld", SMILE_NAMES),
                         ("lld_de", [n.replace("_sma", "_sma_de") for n in SMILE_NAMES])):
        df = opensmile.Smile(feature_set=str(conf), feature_level=level) \
            .process_signal(x, rate)
        start = np.round(df.index.get_level_values("start").total_seconds() * rate /
                         samples(0.010, rate)).astype(int)
        first = np.flatnonzero(np.diff(start, prepend=-1) > 0)   # drop repeated last rows
        assert np.array_equal(start[first], np.arange(len(first)))
        out.append(df[names].to_numpy()[first])
    return out[0], out[1]


def test_is09_correlates_with_opensmile(tmp_path: Path) -> None:
    clips, edge = emodb_clips() + list(CRIES), 3
    ours, theirs = [], []
    for rel in clips:
        feats = offline(Is09, *load(rel))
        llds, deltas = smile(rel)
        n = min(len(feats), len(llds) - 1)          # our row k = their frame k + 1
        ours.append(feats[edge:n - edge])
        theirs.append(np.hstack([llds, deltas])[1 + edge:1 + n - edge])
    o, t = np.concatenate(ours), np.concatenate(theirs)
    r = [float(np.corrcoef(o[:, j], t[:, j])[0, 1]) for j in range(o.shape[1])]
    lines = [[name, f"{r[j]:.4f}", f"{r[j + len(LLDS)]:.4f}",
              float(np.median(np.abs(o[:, j] - t[:, j]))), float(t[:, j].std())]
             for j, name in enumerate(LLDS)]
    table(f"F4 vs openSMILE IS09_emotion.conf ({len(clips)} clips, {len(o)} frames)",
          ["LLD", "Pearson r (LLD, _sma)", "r (delta, _sma_de)", "median abs diff",
           "openSMILE's std"], lines)
    for j, name in enumerate(LLDS):
        if name not in ("f0", "voicing"):
            assert r[j] > 0.99 and r[j + len(LLDS)] > 0.98, name

    raw = unsmoothed_is09(tmp_path)

    def smile_f0(rel: str) -> np.ndarray:
        return smile(rel, raw)[0][1:, SMILE_NAMES.index("F0_sma")]
    lines = [[name, *f0_agreement(emodb_clips(), f0_of)[1]]
             for name, f0_of in (("features.is09 (smooth=false)", ours_f0),
                                 ("openSMILE IS09, smaWin=1", smile_f0))]
    table("F0 on the emodb clips against librosa.pyin, unsmoothed", ["estimator", *F0_HEADER],
          lines)
