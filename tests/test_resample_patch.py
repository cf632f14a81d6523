"""resample and window.patch on real audio, and the VGGish graph
source.file -> resample -> features.logmel -> window.patch -> sink.npy against an offline
reference. Run with ``-s`` to see the measured figures."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr
from conftest import feed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamser.plugins.resample import Resample
from streamser.plugins.window import Patch
from test_features_mel import make, vggish_logmel

from streamser.executors import run
from streamser.frames import Frame
from streamser.graph import build_graph


def audio(frames: list[Frame]) -> np.ndarray:
    return np.concatenate([f.data for f in frames])


def patches_of(rows: np.ndarray, size: int = 96, hop: int = 48) -> np.ndarray:
    starts = range(0, len(rows) - size + 1, hop)
    return np.stack([rows[s:s + size] for s in starts]) if len(rows) >= size else \
        np.zeros((0, size, rows.shape[1]), np.float32)


# ---- resample --------------------------------------------------------------------------

@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 8000), min_size=1, max_size=20),
       quality=st.sampled_from(["quick", "low", "medium", "high", "very_high"]))
def test_streaming_resample_equals_offline_soxr(phone_clip, sizes, quality) -> None:
    x, rate = sf.read(phone_clip, dtype="float32")
    frames = feed(make(Resample, rate=16000, quality=quality), x, rate, sizes)
    y = audio(frames)
    q = {"quick": "QQ", "low": "LQ", "medium": "MQ", "high": "HQ", "very_high": "VHQ"}
    assert np.array_equal(y, soxr.resample(x, rate, 16000, quality=q[quality]))
    produced = np.cumsum([0] + [len(f.data) for f in frames])[:-1]
    assert [f.t for f in frames] == pytest.approx(list(produced / 16000))
    assert all(f.meta["sample_rate"] == 16000 for f in frames)
    ends = [f.meta["upto"] for f in frames]
    assert ends == sorted(ends) and ends[-1] == pytest.approx(len(x) / rate)


@pytest.mark.parametrize("target", [8000, 22050])
def test_one_sample_blocks_down_and_odd_ratio(cry_clip, target) -> None:
    x, rate = sf.read(cry_clip, dtype="float32")
    x = x[:1600]
    y = audio(feed(make(Resample, rate=target), x, rate, [1]))
    assert np.array_equal(y, soxr.resample(x, rate, target))


def test_gap_flushes_the_old_segment_and_restarts(phone_clip) -> None:
    x, rate = sf.read(phone_clip, dtype="float32")
    a, b = x[:12000], x[20000:30000]
    node = make(Resample)
    out_a = feed(node, a, rate, [700], flush=False)
    out_b = feed(node, b, rate, [700], t0=4.0, gap=True)
    first_b = next(i for i, f in enumerate(out_b) if f.meta.get("gap"))
    assert first_b == 1  # the tail of segment a, flushed by the gap, comes first
    assert np.array_equal(audio(out_a + out_b[:1]), soxr.resample(a, rate, 16000))
    assert np.array_equal(audio(out_b[first_b:]), soxr.resample(b, rate, 16000))
    assert out_b[first_b].t == 4.0 and sum(bool(f.meta.get("gap")) for f in out_b) == 1


def test_streams_are_independent_and_same_rate_passes_through(cry_clip, phone_clip) -> None:
    p, p_rate = sf.read(phone_clip, dtype="float32")
    c, c_rate = sf.read(cry_clip, dtype="float32")
    node = make(Resample)
    out: dict[str, list[Frame]] = {"phone": [], "cry": []}
    for i in range(0, 40000, 1000):  # interleave two robots on one node
        for name, x, rate in (("phone", p, p_rate), ("cry", c, c_rate)):
            block = x[i:i + 1000]
            out[name] += node.process(Frame("audio", block, t=i / rate, stream=name,
                                            meta={"sample_rate": rate}))
    for f in node.flush():
        out[f.stream].append(f)
    assert np.array_equal(audio(out["phone"]), soxr.resample(p[:40000], p_rate, 16000))
    assert np.array_equal(audio(out["cry"]), c[:40000])
    assert out["cry"][3].t == 3000 / 16000 and out["cry"][3].meta["upto"] == 4000 / 16000


# ---- window.patch --------------------------------------------------------------------

def feature_frames(rows: np.ndarray, sizes: list[int], t0: float = 0.0,
                   gap: bool = False) -> list[Frame]:
    out, pos, i = [], 0, 0
    while pos < len(rows):
        n = sizes[i % len(sizes)]
        meta = {"sample_rate": 16000, "hop": 0.01, "upto": t0 + (pos + n) * 0.01 + 0.015,
                **({"gap": True} if gap and pos == 0 else {})}
        out.append(Frame("features", rows[pos:pos + n], t=t0 + pos * 0.01, meta=meta))
        pos, i = pos + n, i + 1
    return out


def run_patch(frames: list[Frame], **params: int) -> list[Frame]:
    node = make(Patch, **params)
    return [p for f in frames for p in node.process(f)] + list(node.flush())


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 400), sizes=st.lists(st.integers(1, 120), min_size=1, max_size=8))
def test_patches_any_chunking(n: int, sizes: list[int]) -> None:
    rows = np.arange(n * 64, dtype=np.float32).reshape(n, 64)
    frames = feature_frames(rows, sizes)
    out = run_patch(frames)
    assert len(out) == (1 + (n - 96) // 48 if n >= 96 else 0)
    want = patches_of(rows)
    assert all(np.array_equal(p.data, w) for p, w in zip(out, want, strict=True))
    assert [p.t for p in out] == pytest.approx([48 * k * 0.01 for k in range(len(out))])
    for k, p in enumerate(out):  # upto of the features frame holding the patch's last row
        last_row = 48 * k + 95
        holder = next(f for f in frames if f.t / 0.01 + len(f.data) > last_row + 1e-6)
        assert p.kind == "patch" and p.meta["upto"] == holder.meta["upto"]
        assert p.meta["hop"] == pytest.approx(0.48)


def test_patch_gap_and_custom_sizes() -> None:
    rows = np.random.default_rng(0).normal(size=(300, 64)).astype(np.float32)
    node = make(Patch, frames=10, hop=25)  # hop > frames: rows between patches skipped
    out = [p for f in feature_frames(rows[:100], [7]) for p in node.process(f)]
    after = [p for f in feature_frames(rows[100:], [7], t0=9.0, gap=True)
             for p in node.process(f)]
    assert [p.t for p in out] == pytest.approx([0.0, 0.25, 0.5, 0.75])
    assert np.array_equal(np.stack([p.data for p in after]), patches_of(rows[100:], 10, 25))
    assert after[0].t == 9.0 and after[0].meta["gap"] and "gap" not in after[1].meta


# ---- the VGGish graph ----------------------------------------------------------------

@pytest.mark.parametrize("clip", ["phone_clip", "cry_clip"])
def test_vggish_graph_matches_offline_reference(clip, request, tmp_path) -> None:
    path = request.getfixturevalue(clip)
    out = tmp_path / "patches.npy"
    graph = build_graph({"name": "vggish", "nodes": {
        "src": {"plugin": "source.file", "params": {"path": str(path), "block": 777}},
        "rs": {"plugin": "resample", "input": "src", "params": {"rate": 16000}},
        "mel": {"plugin": "features.logmel", "input": "rs"},
        "patch": {"plugin": "window.patch", "input": "mel"},
        "out": {"plugin": "sink.npy", "input": "patch", "params": {"path": str(out)}}}})
    run(graph, "inline")
    got = np.load(out)
    x, rate = sf.read(path, dtype="float32")
    ref_rows = vggish_logmel(soxr.resample(x, rate, 16000))
    ref = patches_of(ref_rows)
    err = np.abs(got - ref).max()
    print(f"\ngraph on {path.name} ({rate} Hz): {len(ref_rows)} log-mel frames, "
          f"{len(got)} patches, max abs error vs offline reference {err:.2e}")
    assert got.shape == (1 + (len(ref_rows) - 96) // 48, 96, 64)
    assert err < 1e-3
