"""Spectral front-ends F1 (VGGish log-mel), F2 (40-band log-mel in [0, 1]) and F5 (M5's
256-point spectrogram) on real audio: streaming == one block, and each against an
independent reference computation. Run with ``-s`` to see the measured figures."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import soxr
from conftest import feed, rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamser.plugins.features.logmel import LogMel
from streamser.plugins.features.logmel40 import LogMel40
from streamser.plugins.features.spec256 import Spec256

from streamser.node import Node

FRONT_ENDS = (LogMel, LogMel40, Spec256)


@lru_cache(maxsize=4)
def load16k(path: Path) -> np.ndarray:
    """A clip as float32 mono at 16 kHz (soxr HQ when it is at another rate)."""
    x, rate = sf.read(path, dtype="float32")
    return x if rate == 16000 else soxr.resample(x, rate, 16000)


def make(cls: type[Node], **params: Any) -> Node:
    node = cls(cls.Params(**params), "test")
    node.start()
    return node


# ---- independent references ---------------------------------------------------------

def vggish_mel_matrix(n_mels: int, fmin: float, fmax: float, n_fft: int = 512,
                      rate: int = 16000) -> np.ndarray:
    """A direct transcription of VGGish's spectrogram_to_mel_matrix (mel_features.py)."""
    def hertz_to_mel(f: np.ndarray) -> np.ndarray:
        return 1127.0 * np.log(1.0 + f / 700.0)
    bins_mel = hertz_to_mel(np.linspace(0.0, rate / 2, n_fft // 2 + 1))
    edges = np.linspace(hertz_to_mel(fmin), hertz_to_mel(fmax), n_mels + 2)
    weights = np.empty((n_fft // 2 + 1, n_mels))
    for i in range(n_mels):
        lower, center, upper = edges[i:i + 3]
        weights[:, i] = np.maximum(0.0, np.minimum((bins_mel - lower) / (center - lower),
                                                   (upper - bins_mel) / (upper - center)))
    weights[0, :] = 0.0
    return weights


def librosa_spectrum(x: np.ndarray, win: int, n_fft: int) -> np.ndarray:
    """|STFT| (frames, bins) from librosa, framed as VGGish frames: ``[k*160, k*160+win)``.

    librosa centres a ``win``-sample window inside each ``n_fft``-sample frame, so padding
    the signal by ``(n_fft - win) / 2`` on both sides puts frame k's window exactly on
    VGGish's frame k (a circular shift inside the FFT buffer changes phase only).
    """
    pad = (n_fft - win) // 2
    window = scipy.signal.get_window("hann", win, fftbins=True)
    return np.abs(librosa.stft(np.pad(x.astype(np.float64), pad), n_fft=n_fft,
                               hop_length=160, win_length=win, window=window,
                               center=False)).T


def vggish_logmel(x: np.ndarray) -> np.ndarray:
    """The F1 definition from librosa's STFT and the transcribed VGGish mel matrix."""
    return np.log(librosa_spectrum(x, 400, 512) @ vggish_mel_matrix(64, 125, 7500) + 0.01)


def full_scale(spectrum: np.ndarray, win: int) -> np.ndarray:
    """Power scaled so that a full-scale sine reads 1 in its bin (sum of Hann = win / 2)."""
    return spectrum ** 2 / (win / 4) ** 2


def to_unit(db: np.ndarray, floor: float = -100.0, ceil: float = 0.0) -> np.ndarray:
    return np.clip((db - floor) / (ceil - floor), 0, 1)


# ---- streaming == one block ---------------------------------------------------------

@pytest.mark.parametrize("cls", FRONT_ENDS)
def test_one_sample_blocks_equal_one_block(cls, cry_clip) -> None:
    x = load16k(cry_clip)[16000:19200]  # 0.2 s of crying
    whole = feed(make(cls), x, 16000, [len(x)])
    ones = feed(make(cls), x, 16000, [1])
    assert len(rows(whole)) == 1 + (len(x) - make(cls).window(16000)[0]) // 160
    assert np.array_equal(rows(ones), rows(whole))


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 16000), min_size=1, max_size=20))
def test_random_blocks_equal_one_block(cry_clip, sizes: list[int]) -> None:
    x = load16k(cry_clip)[:32000]
    for cls in FRONT_ENDS:
        whole = rows(feed(make(cls), x, 16000, [len(x)]))
        frames = feed(make(cls), x, 16000, sizes)
        assert np.array_equal(rows(frames), whole), cls.__name__
        first = np.cumsum([0] + [len(f.data) for f in frames])[:-1]
        assert [f.t for f in frames] == pytest.approx(list(first * 0.01))
        assert all(f.meta["hop"] == 0.01 and f.meta["sample_rate"] == 16000 for f in frames)


def test_gap_restarts_framing_and_time(cry_clip) -> None:
    x = load16k(cry_clip)
    a, b = x[:8000], x[20000:28000]
    node = make(LogMel)
    out_a = feed(node, a, 16000, [1000], flush=False)
    out_b = feed(node, b, 16000, [1000], t0=3.0, gap=True)
    assert np.array_equal(rows(out_b), rows(feed(make(LogMel), b, 16000, [len(b)])))
    assert out_b[0].t == 3.0 and out_b[0].meta.get("gap") and not out_a[0].meta.get("gap")


def test_wrong_rate_is_refused(phone_clip) -> None:
    x, rate = sf.read(phone_clip, dtype="float32")
    with pytest.raises(ValueError, match="needs 16000 Hz"):
        feed(make(LogMel), x[:4000], rate, [4000])


# ---- F1: VGGish log-mel --------------------------------------------------------------

def test_f1_matches_vggish_definition(cry_clip) -> None:
    x = load16k(cry_clip)
    f1 = rows(feed(make(LogMel), x, 16000, [len(x)]))
    ref = vggish_logmel(x)
    err = np.abs(f1 - ref)
    print(f"\nF1 vs VGGish definition (librosa STFT + transcribed mel matrix): "
          f"frames {len(f1)}, max abs {err.max():.2e}, mean abs {err.mean():.2e}")
    assert f1.shape == ref.shape == (1 + (len(x) - 400) // 160, 64)
    assert err.max() < 1e-5


def test_f1_distance_to_librosa_htk_filterbank(cry_clip) -> None:
    """librosa's htk=True triangles are linear in Hz, VGGish's linear in mel: close, not
    equal. This measures how close (figure quoted in docs/features.md)."""
    x = load16k(cry_clip)
    f1 = rows(feed(make(LogMel), x, 16000, [len(x)]))
    fb = librosa.filters.mel(sr=16000, n_fft=512, n_mels=64, fmin=125, fmax=7500,
                             htk=True, norm=None)
    ref = np.log(librosa_spectrum(x, 400, 512) @ fb.T + 0.01)
    err, weights = np.abs(f1 - ref), np.abs(fb.T - vggish_mel_matrix(64, 125, 7500))
    print(f"\nF1 vs librosa htk=True filterbank: max abs {err.max():.2e}, "
          f"mean abs {err.mean():.2e}; filterbank weights max abs diff {weights.max():.2e}")
    assert 1e-4 < err.max() < 0.05


# ---- F2: 40-band log-mel in [0, 1] ----------------------------------------------------

def test_f2_against_references(cry_clip) -> None:
    x = load16k(cry_clip)
    f2 = rows(feed(make(LogMel40), x, 16000, [len(x)]))
    power = full_scale(librosa_spectrum(x, 400, 512), 400)
    ref = to_unit(10 * np.log10(power @ vggish_mel_matrix(40, 20, 8000) + 1e-10))
    fb = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=20, fmax=8000, htk=True,
                             norm=None)
    lib = to_unit(10 * np.log10(power @ fb.T + 1e-10))
    err, err_lib = np.abs(f2 - ref), np.abs(f2 - lib)
    print(f"\nF2 vs its definition (librosa STFT + transcribed mel): max abs {err.max():.2e}; "
          f"vs librosa htk=True filterbank: max abs {err_lib.max():.2e}, "
          f"mean abs {err_lib.mean():.2e}; range [{f2.min():.3f}, {f2.max():.3f}]")
    assert f2.shape == (1 + (len(x) - 400) // 160, 40)
    assert err.max() < 1e-5 and err_lib.max() < 0.01
    assert 0 <= f2.min() and f2.max() <= 1


def test_f2_mapping_is_fixed_not_per_utterance(cry_clip) -> None:
    x = load16k(cry_clip)[:16000]
    loud = rows(feed(make(LogMel40), x, 16000, [len(x)]))
    quiet = rows(feed(make(LogMel40), x * np.float32(0.1), 16000, [len(x)]))
    inside = (loud > 0.5) & (loud < 1)  # bands that stay well above the 1e-10 floor
    assert inside.sum() > 1000
    assert np.allclose((loud - quiet)[inside], 0.2, atol=1e-3)  # -20 dB = -0.2 of 100 dB
    narrow = rows(feed(make(LogMel40, floor_db=-60, ceil_db=-20), x, 16000, [len(x)]))
    assert narrow.min() == 0 and narrow.max() == 1


# ---- F5: M5's spectrogram -------------------------------------------------------------

def test_f5_against_librosa(phone_clip, tmp_path) -> None:
    """A 256-point spectrum of a 320-sample frame = even bins of librosa's 512-point STFT."""
    x = load16k(phone_clip)
    f5 = rows(feed(make(Spec256), x, 16000, [len(x)]))
    ref = np.log(full_scale(librosa_spectrum(x, 320, 512)[:, ::2], 320) + 1e-10)
    err = np.abs(f5 - ref)
    print(f"\nF5 vs librosa 512-point STFT, even bins: frames {len(f5)}, max abs "
          f"{err.max():.2e}, mean abs {err.mean():.2e}")
    assert f5.shape == (1 + (len(x) - 320) // 160, 129)
    assert err.max() < 1e-4
    rng = np.random.default_rng(0)
    mean, std = rng.normal(-10, 2, 129), rng.uniform(1, 3, 129)
    np.savez(tmp_path / "neutral.npz", mean=mean, std=std)
    z = rows(feed(make(Spec256, stats=str(tmp_path / "neutral.npz")), x, 16000, [9999]))
    assert np.allclose(z, (ref - mean) / std, atol=1e-4)


def test_f5_stats_are_checked(tmp_path) -> None:
    np.savez(tmp_path / "short.npz", mean=np.zeros(128), std=np.ones(128))
    np.savez(tmp_path / "pickled.npz", mean=np.array([{}] * 129, dtype=object),
             std=np.ones(129))
    with pytest.raises(ValueError, match="shape"):
        make(Spec256, stats=str(tmp_path / "short.npz"))
    with pytest.raises(ValueError, match="allow_pickle"):
        make(Spec256, stats=str(tmp_path / "pickled.npz"))
