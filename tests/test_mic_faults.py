"""source.mic survives its device: over a fault-injecting device layer that plays a real
recording and is unplugged, then stalls, the run goes on, says source_lost and
source_back, reopens with backoff, and keeps stream time and gaps honest."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from conftest import data_file
from faulty_device import FaultyMic

from streamser.devices import PA_CONTINUE, PA_FLOAT32, PA_INPUT_OVERFLOW
from streamser.executors import Control, run
from streamser.graph import build_graph


def run_for(graph: dict, seconds: float, executor: str = "inline") -> dict:
    control = Control()
    timer = threading.Timer(seconds, control.request_stop)
    timer.start()
    try:
        return run(build_graph(graph), executor, control)
    finally:
        timer.cancel()


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_lost_device_is_reopened_with_backoff_and_reported(tmp_path, executor) -> None:
    recording = data_file("babycry_esc/crying/1-187207-A.flac")
    tap = tmp_path / "tap.jsonl"
    events = tmp_path / "events.jsonl"
    graph = {"name": "faulty", "nodes": {
        "mic": {"plugin": "faulty_device:FaultyMic", "params": {
            "recording": str(recording), "block": 1600, "lost_after": 1.0,
            "unplugged": [[1.0, 3.0]], "stalled": [[6.5, 2.0]]}},
        "resample": {"plugin": "resample", "input": "mic", "params": {"rate": 8000}},
        "tap": {"plugin": "sink.jsonl", "input": "mic", "params": {"path": str(tap),
                                                                    "data": False}},
        "events": {"plugin": "sink.events", "input": "mic", "params": {"path": str(events)}}}}
    metrics = run_for(graph, 11.0, executor)  # returns: the run never failed
    hw = FaultyMic.last
    assert hw is not None

    got = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["event"] for e in got] == ["source_lost", "source_back"] * 2, got
    lost, back, stall, resumed = got
    assert "stopped" in lost["reason"] and "no audio" in stall["reason"]
    assert all(e["source"] == "mic" and e["stream"] == "default" for e in got)
    assert 0.8 <= lost["t"] <= 1.5
    # unplugged from 1 s to 4 s: reopened 0.5 s after the loss, then 1 s, then 2 s later
    opens = [t for t, _ in hw.opens]
    assert [ok for _, ok in hw.opens] == [True, False, False, True, True], hw.opens
    assert opens[1] - lost["t"] == pytest.approx(0.5, abs=0.3)
    assert np.diff(opens[1:4]) == pytest.approx([1.0, 2.0], abs=0.3)
    assert back["attempts"] == 3 and resumed["attempts"] == 1
    # stream time moved on by the time away (after a stall, the stalled time the reopened
    # device never delivered is not counted: t counts the samples a device delivers)
    assert back["t"] - lost["t"] == pytest.approx(back["lost_for"], abs=0.3)
    assert 0.5 <= resumed["t"] - stall["t"] <= resumed["lost_for"] + 0.3
    assert 2.5 <= back["lost_for"] <= 4.5 and 1.0 <= resumed["lost_for"] <= 3.0

    rows = [json.loads(line) for line in tap.read_text().splitlines()]
    audio = [r for r in rows if r["kind"] == "audio"]
    for event in (back, resumed):  # audio resumes after each return, marked as a gap
        first = next(r for r in audio if r["t"] >= event["t"] - 0.0006)  # t: ms
        assert first["meta"].get("gap") is True
        assert first["t"] == pytest.approx(event["t"], abs=0.002)
    ts = [r["t"] for r in audio]
    assert ts == sorted(ts)
    # events went only where they are taken: resample saw audio only, rejected nothing
    assert metrics["resample"]["rejected"] == 0
    assert metrics["resample"]["frames_in"] == len(audio)


def test_portaudio_constants_match_pyaudio() -> None:
    pyaudio = pytest.importorskip("pyaudio", reason="pyaudio (the mic extra) not installed")
    assert (PA_FLOAT32, PA_CONTINUE, PA_INPUT_OVERFLOW) == (
        pyaudio.paFloat32, pyaudio.paContinue, pyaudio.paInputOverflow)


def test_a_device_missing_at_start_still_fails_the_run(tmp_path) -> None:
    """Only a transient error is survived: no device at start is one clear error."""
    from streamser.devices import AudioUnavailable

    recording = data_file("babycry_esc/crying/1-187207-A.flac")
    mic = FaultyMic(FaultyMic.Params(recording=str(recording), unplugged=[[0.0, 60.0]]),
                    "mic")
    mic.hardware = None
    hw_mic = mic
    with pytest.raises(AudioUnavailable, match="no audio input device found"):
        hw_mic.start()
    hw_mic.stop()
