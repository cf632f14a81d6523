"""Cry events end to end (synthetic cry scene -> heuristic score -> hysteresis -> events),
the hysteresis smoother on constructed scores, the events sink and the cry scene itself."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from conftest import ROOT, cli, data_file
from streamser.plugins.score import CryHeuristic, CryHeuristicParams
from streamser.plugins.sinks.events import EventsParams, EventsSink
from streamser.plugins.smooth import Hysteresis, HysteresisParams
from streamser.plugins.sources.synth import SynthParams

from streamser.dsp.cryscene import CryScene, CrySceneRenderer, cry_scene_truth
from streamser.executors import run
from streamser.frames import Frame
from streamser.graph import build_graph

SCORER = "score.cry_heuristic"
DEMO = ROOT / "configs" / "cry_scene_demo.yaml"


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_events(events: list[dict], truth: list[tuple[float, float]]) -> None:
    """One start/end pair per true episode, onsets within 1 s (ends within 2.5 s: babble
    right after a cry may hold the score up), fields as DESIGN.md."""
    assert [e["event"] for e in events] == ["cry_start", "cry_end"] * len(truth)
    for (start, end), (on, off) in zip(zip(events[::2], events[1::2]), truth):
        assert list(start) == ["event", "stream", "t", "emitted_at", "score"]
        assert list(end) == ["event", "stream", "t", "emitted_at", "start"]
        assert start["stream"] == end["stream"] == "default"
        assert abs(start["t"] - on) < 1.0 and abs(end["t"] - off) < 2.5
        assert start["emitted_at"] >= start["t"] and end["emitted_at"] >= end["t"]
        assert start["emitted_at"] - on < 1.5  # detection latency
        assert end["start"] == start["t"] and 0.6 <= start["score"] <= 1


def test_cry_scene_events_end_to_end(tmp_path) -> None:
    src = {"signal": "cry_scene", "duration": 50, "episodes": 3, "babble_db": -30,
           "seed": 3, "block": 700}
    out = tmp_path / "events.jsonl"
    run(build_graph({"name": "cry", "nodes": {
        "src": {"plugin": "source.synth", "params": src},
        "vad": {"plugin": "vad.energy", "input": "src", "params": {"mode": "annotate"}},
        "score": {"plugin": SCORER, "input": "vad"},
        "smooth": {"plugin": "smooth.hysteresis", "input": "score"},
        "events": {"plugin": "sink.events", "input": "smooth",
                   "params": {"path": str(out)}}}}))
    truth = cry_scene_truth(CryScene.from_params(SynthParams(**src)))
    assert len(truth) == 3
    check_events(read_events(out), truth)


def test_demo_config_through_the_cli(tmp_path) -> None:
    out = tmp_path / "ev.jsonl"
    res = cli("run", str(DEMO), "--events", str(out), "-q")
    assert res.returncode == 0, res.stderr
    params = yaml.safe_load(DEMO.read_text())["nodes"]["src"]["params"]
    check_events(read_events(out), cry_scene_truth(CryScene.from_params(SynthParams(**params))))
    assert res.stderr.count("event") >= 6  # sink.console shows them too


# -- the hysteresis smoother on constructed scores (0.1 s hop, 0.5 s windows) ----------

def scores(values: list[float], stream: str = "default", **meta: object) -> list[Frame]:
    return [Frame("scores", np.array([v, 1 - v], np.float32), t=0.1 * i, stream=stream,
                  meta={"labels": ["cry", "other"], "upto": 0.1 * i + 0.5, **meta})
            for i, v in enumerate(values)]


def smooth(frames: list[Frame], **params: object) -> list[dict]:
    node = Hysteresis(HysteresisParams(**{"window": 1, **params}))
    node.start()
    out = [e for f in frames for e in node.process(f)] + list(node.flush())
    assert all(e.kind == "event" and e.data.size == 0 for e in out)
    return [e.meta for e in out]


def test_thresholds_and_min_on() -> None:
    assert smooth(scores([0.55] * 30)) == []                  # below on_threshold
    assert smooth(scores([0] * 5 + [1] * 5 + [0] * 20)) == []  # 0.4 s run < min_on 0.5
    ev = smooth(scores([0] * 5 + [1] * 6 + [0] * 20), min_off=0.5)
    assert [e["event"] for e in ev] == ["cry_start", "cry_end"]
    # onset: centre of the first frame above on (0.5 + 0.25), confirmed 0.5 s later
    assert ev[0]["t"] == 0.75 and ev[0]["emitted_at"] == pytest.approx(1.0 + 0.5)
    assert ev[1]["t"] == 1.35 and ev[1]["start"] == 0.75


def test_min_off_bridges_short_dips_and_off_threshold_holds() -> None:
    dips = [1] * 10 + [0] * 5 + [1] * 10 + [0.5] * 30 + [0] * 20
    ev = smooth(scores(dips), min_off=0.6)
    assert [e["event"] for e in ev] == ["cry_start", "cry_end"]  # 0.5 s dip bridged
    assert ev[1]["t"] == pytest.approx(0.1 * 55 + 0.25)  # 0.5 stays between off and on


def test_ema_and_median_smoothing() -> None:
    spike = scores([0, 0, 1, 0, 0, 0])
    assert [e["event"] for e in smooth(spike, min_on=0)] == ["cry_start", "cry_end"]
    assert smooth(spike, min_on=0, smoothing="median", window=3) == []
    assert smooth(spike, min_on=0, smoothing="ema", window=3) == []  # EMA peaks at 0.5
    ramp = smooth(scores([0.9] * 10), min_on=0, smoothing="ema", window=4)
    assert ramp[0]["score"] == 0.9  # the EMA starts at the first score
    slow = smooth(scores([0, 0.9, 0.9, 0.9, 0.9]), min_on=0, smoothing="ema", window=3)
    assert slow[0]["t"] == 0.45 and slow[0]["score"] == 0.675  # 0.45, 0.675: first >= 0.6


def test_state_is_per_stream_and_flush_closes_open_episodes() -> None:
    a, b = scores([0] * 3 + [1] * 20, "a"), scores([1] * 10 + [0] * 3, "b")
    ev = smooth([f for pair in zip(a, b) for f in pair] + a[len(b):], min_off=0.5)
    by = {s: [(e["event"], e["t"]) for e in ev if e["stream"] == s] for s in "ab"}
    assert by["a"] == [("cry_start", 0.55), ("cry_end", 2.7)]  # flushed: last upto
    assert by["b"] == [("cry_start", 0.25), ("cry_end", 1.25)]  # flushed: pending offset
    assert all(e["emitted_at"] >= e["t"] for e in ev)


def test_gap_closes_the_episode_and_resets() -> None:
    frames = scores([1] * 10)
    later = scores([1] * 10)
    for f in later:
        f.t += 10
        f.meta["upto"] += 10
    later[0].meta["gap"] = True
    ev = smooth(frames + later)
    assert [(e["event"], e["t"]) for e in ev] == [
        ("cry_start", 0.25), ("cry_end", 1.4), ("cry_start", 10.25), ("cry_end", 11.4)]


def test_label_choice_names_and_passthrough() -> None:
    frames = [Frame("scores", np.array([0.0, 1.0], np.float32), t=0.1 * i,
                    meta={"labels": ["other", "laugh"], "upto": 0.1 * i + 0.5,
                          "label": "tired", "label_scores": {"tired": 0.7, "hungry": 0.3}})
              for i in range(10)]
    ev = smooth(frames, label="laugh", event="laugh", min_on=0)
    assert [e["event"] for e in ev] == ["laugh_start", "laugh_end"]
    assert ev[1]["label"] == "tired" and ev[1]["label_scores"]["tired"] == 0.7
    assert "label" not in ev[0]
    assert smooth(frames, label=0, min_on=0) == []
    with pytest.raises(ValueError, match="'cry' not in"):
        smooth(frames)
    with pytest.raises(ValueError, match="must not exceed"):
        HysteresisParams(on_threshold=0.3, off_threshold=0.5)


def test_running_updates_only_while_an_episode_is_on() -> None:
    values = [0] * 5 + [1] * 30 + [0] * 20          # on from 0.75 s, off 1.5 s after 3.5 s
    frames = scores(values, label="tired", label_scores={"tired": 0.6, "hungry": 0.4})
    assert [e["event"] for e in smooth(frames, min_on=0)] == ["cry_start", "cry_end"]
    ev = smooth(frames, min_on=0, update=1.0)
    kinds = [e["event"] for e in ev]
    assert kinds[0] == "cry_start" and kinds[-1] == "cry_end"
    updates = ev[1:-1]
    assert {e["event"] for e in updates} == {"cry_update"} and len(updates) >= 3
    gaps = np.diff([ev[0]["emitted_at"]] + [e["emitted_at"] for e in updates])
    np.testing.assert_allclose(gaps, 1.0, atol=1e-6)
    assert all(e["start"] == ev[0]["t"] and e["label"] == "tired" and
               e["emitted_at"] >= e["t"] and e["emitted_at"] <= ev[-1]["emitted_at"]
               for e in updates)


def test_events_sink_writes_and_flushes_each_line(tmp_path) -> None:
    path = tmp_path / "sub" / "ev.jsonl"
    sink = EventsSink(EventsParams(path=str(path)))
    sink.start()
    event = {"event": "cry_start", "stream": "s", "t": 1.0, "emitted_at": 1.5, "score": 0.9}
    sink.process(Frame("event", np.zeros(0, np.float32), t=1.0, meta=event))
    assert read_events(path) == [event]  # readable before the sink closes
    sink.stop()


# -- the cry scene ---------------------------------------------------------------------

def test_cry_scene_is_deterministic_block_independent_and_matches_truth() -> None:
    scene = CryScene(duration=40, seed=5, episodes=2, episode_length=4, babble_db=-35)
    x = CrySceneRenderer(scene).read(40 * 16000)
    rng = np.random.default_rng(0)
    r = CrySceneRenderer(scene)
    parts, n = [], 0
    while n < len(x):
        parts.append(r.read(int(min(rng.integers(1, 5000), len(x) - n))))
        n += len(parts[-1])
    assert np.array_equal(np.concatenate(parts), x)
    truth = cry_scene_truth(scene)
    assert len(truth) == 2 and all(3 <= b - a <= 5 for a, b in truth)
    level = 10 * np.log10(np.mean(x.reshape(-1, 1600) ** 2, axis=1))  # per 0.1 s
    inside = np.zeros(len(level), bool)
    for a, b in truth:
        inside[round(a * 10):round(b * 10)] = True
    assert np.median(level[inside]) > np.median(level[~inside]) + 6


def test_cry_scene_explicit_times_and_validation() -> None:
    scene = CryScene(cry_times=((1.0, 2.5), (6.0, 9.0)))
    assert cry_scene_truth(scene) == [(1.0, 2.5), (6.0, 9.0)]
    length = 5 * (1 + np.random.default_rng([0, 1, 0]).uniform(-0.25, 0.25))
    assert cry_scene_truth(CryScene(duration=20)) == [(3.0, 3.0 + length), (18.0, 20.0)]
    with pytest.raises(ValueError, match="until"):
        cry_scene_truth(CryScene())
    with pytest.raises(ValueError, match="episode_period"):
        CryScene(episode_length=12)
    with pytest.raises(ValueError):
        SynthParams(signal="cry_scene", cry_times=[(2.0, 1.0)])


def test_endless_cry_scene_stays_bounded() -> None:
    r = CrySceneRenderer(CryScene(babble_db=-30, episode_period=8, episode_length=5))
    for _ in range(100):  # 100 s
        r.read(16000)
        assert len(r._held) <= 12
    assert sum(len(x) for _, x in r._held.values()) < 16000 * 12


def test_heuristic_scores_real_crying_above_silence(cry_clip) -> None:
    node = CryHeuristic(CryHeuristicParams())
    node.start()

    def mean_cry(path: Path, stream: str) -> float:
        x, _ = sf.read(path, dtype="float32")
        out = node.process(Frame("audio", x, stream=stream, meta={"sample_rate": 16000}))
        assert all(f.kind == "scores" and f.meta["labels"] == ["cry", "other"] for f in out)
        return float(np.mean([f.data[0] for f in out]))

    assert mean_cry(cry_clip, "a") > 0.6
    assert mean_cry(data_file("babycry_esc/silence/silence.wav_0.flac"), "b") < 0.3
