"""VAD nodes: block-size independence, gate/annotate modes, real crying vs silence clips."""
from __future__ import annotations

import csv
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import data_file

from streamser.frames import Frame
from streamser.node import Node
from streamser.registry import load

RATE = 16000


def vad(name: str, **params: object) -> Node:
    cls = load(name)
    node = cls(cls.Params(**params), name)
    if name == "vad.silero":      # its model ships inside streamser: never skipped
        node.start()
        return node
    try:
        node.start()
    except RuntimeError as exc:  # webrtcvad not installed
        pytest.skip(str(exc))
    return node


def feed(node: Node, x: np.ndarray, blocks: list[int] | int, rate: int = RATE,
         stream: str = "default") -> list[Frame]:
    sizes = blocks if isinstance(blocks, list) else [blocks] * (len(x) // blocks + 1)
    out, pos = [], 0
    for n in sizes:
        if pos >= len(x):
            break
        out += node.process(Frame("audio", x[pos:pos + n], t=pos / rate, stream=stream,
                                  meta={"sample_rate": rate}))
        pos += n
    return out + list(node.flush())


def mask(frames: list[Frame], n: int, rate: int = RATE) -> np.ndarray:
    m = np.zeros(n, bool)
    for f in frames:
        m[round(f.t * rate):round(f.t * rate) + len(f.data)] = True
    return m


def clips(label: str, n: int) -> list[np.ndarray]:
    manifest = data_file("babycry_esc/manifest.csv")
    with open(manifest) as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] == label]
    return [sf.read(manifest.parent / r["path"], dtype="float32")[0]
            for r in rows[::len(rows) // n][:n]]


def bursts(rate: int = RATE) -> np.ndarray:
    """0.5 s quiet, 0.5 s tone, 1 s quiet, 0.5 s tone, 0.5 s quiet (noise at -60 dBFS)."""
    rng = np.random.default_rng(0)
    x = 0.001 * rng.standard_normal(3 * rate)
    t = np.arange(rate // 2) / rate
    for start in (0.5, 2.0):
        i = int(start * rate)
        x[i:i + rate // 2] += 0.3 * np.sin(2 * np.pi * 440 * t)
    return x.astype(np.float32)


VADS = ["vad.energy", "vad.webrtc", "vad.silero"]


@pytest.mark.parametrize("name", VADS)
@pytest.mark.parametrize("mode", ["gate", "annotate"])
def test_decisions_do_not_depend_on_block_size(name, mode, cry_clip) -> None:
    x, rate = sf.read(cry_clip, dtype="float32")
    rng = np.random.default_rng(1)
    runs = [feed(vad(name, mode=mode), x, blocks) for blocks in
            (len(x), 160, 1024, list(rng.integers(1, 3000, size=200)))]
    ref = runs[0]
    for frames in runs[1:]:
        assert np.array_equal(mask(frames, len(x)), mask(ref, len(x)))
        assert np.array_equal(np.concatenate([f.data for f in frames]),
                              np.concatenate([f.data for f in ref]))
    if mode == "annotate":  # all audio passes, in order, sample-exact times
        assert np.array_equal(np.concatenate([f.data for f in ref]), x)
        assert all(0 <= f.meta["vad"] <= 1 and isinstance(f.meta["active"], bool)
                   for f in ref)


@pytest.mark.parametrize("name, crying, silence", [("vad.energy", 0.6, 0.25),
                                                   ("vad.webrtc", 0.8, 0.45)])
def test_crying_mostly_active_silence_mostly_inactive(name, crying, silence) -> None:
    """Fractions of audio passed, 8 clips per class (docs/vad.md has the full table)."""
    active = {label: np.mean([mask(feed(vad(name), x, 1024), len(x)).mean()
                              for x in clips(label, 8)]) for label in ("crying", "silence")}
    assert active["crying"] > crying, active
    assert active["silence"] < silence, active


def test_highpass_keeps_room_rumble_out() -> None:
    """The 'silence' clips are loud rumble below 60 Hz: without the high-pass, the
    detectors call much of it active."""
    x = np.concatenate(clips("silence", 3))
    filtered, raw = (mask(feed(vad("vad.webrtc", highpass=hp), x, 1024), len(x)).mean()
                     for hp in (200, 0))
    assert raw > 0.9 and filtered < 0.5


def test_silero_speech_active_silence_inactive() -> None:
    speech = sf.read(data_file("emodb/03a01Fa.flac"), dtype="float32")[0]
    import soxr
    speech = soxr.resample(speech, 22050, RATE).astype(np.float32)
    assert mask(feed(vad("vad.silero"), speech, 1024), len(speech)).mean() > 0.7
    quiet = np.concatenate(clips("silence", 2))
    assert mask(feed(vad("vad.silero"), quiet, 1024), len(quiet)).mean() < 0.1


def segments(frames: list[Frame]) -> list[tuple[float, np.ndarray]]:
    """Gate output joined into (t, audio) segments: a new one starts at each gap."""
    out: list[tuple[float, np.ndarray]] = []
    for f in frames:
        if f.meta.get("gap") or not out:
            out.append((f.t, f.data))
        else:
            t, data = out[-1]
            assert abs(t + len(data) / RATE - f.t) < 1e-9  # contiguous within a segment
            out[-1] = (t, np.concatenate((data, f.data)))
    return out


def test_gate_passes_bursts_with_gaps_and_true_times() -> None:
    x = bursts()
    out = feed(vad("vad.energy", hangover=0.1), x, 1000)
    assert out[0].meta["gap"] is True  # the quiet start was dropped
    assert all(f.meta["upto"] >= f.t + len(f.data) / RATE - 1e-9 for f in out)
    found = segments(out)
    assert len(found) == 2
    for (t, data), start in zip(found, (0.5, 2.0)):
        assert abs(t - start) <= 0.03 and 0.5 <= len(data) / RATE <= 0.65
        i = round(t * RATE)
        assert np.array_equal(data, x[i:i + len(data)])


def test_gap_only_after_dropped_audio() -> None:
    x = bursts()[:RATE]  # 0.5 s quiet, then tone to the end: one gap, at the first frame
    out = feed(vad("vad.energy", hangover=0), x, 100)
    assert [bool(f.meta.get("gap")) for f in out] == [True] + [False] * (len(out) - 1)
    assert len(segments(out)) == 1 and out[-1].t + len(out[-1].data) / RATE == 1.0


def test_input_gap_resets_and_is_carried_on() -> None:
    node = vad("vad.energy", mode="annotate")
    x = bursts()
    first = node.process(Frame("audio", x[:8000], meta={"sample_rate": RATE}))
    later = node.process(Frame("audio", x[8000:16000], t=5.0,
                               meta={"sample_rate": RATE, "gap": True}))
    assert not first[0].meta.get("gap") and later[0].meta["gap"] is True
    assert later[0].t == 5.0


def test_streams_are_independent() -> None:
    x, y = bursts(), np.zeros(3 * RATE, np.float32)
    alone = mask(feed(vad("vad.energy"), x, 500), len(x))
    node = vad("vad.energy")
    mixed: list[Frame] = []
    for pos in range(0, len(x), 500):
        for stream, sig in (("a", x), ("b", y)):
            mixed += node.process(Frame("audio", sig[pos:pos + 500], t=pos / RATE,
                                        stream=stream, meta={"sample_rate": RATE}))
    mixed += node.flush()
    assert np.array_equal(mask([f for f in mixed if f.stream == "a"], len(x)), alone)
    assert not [f for f in mixed if f.stream == "b"]


@pytest.mark.parametrize("name, rate", [("vad.webrtc", 22050), ("vad.silero", 32000)])
def test_unsupported_rate_says_resample(name, rate) -> None:
    with pytest.raises(ValueError, match="resample"):
        feed(vad(name), np.zeros(rate, np.float32), 1024, rate=rate)


def test_missing_package_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "webrtcvad", None)
    cls = load("vad.webrtc")
    with pytest.raises(RuntimeError, match=r"streamser\[vad\]"):
        cls(cls.Params()).start()
