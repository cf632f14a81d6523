"""configs/cry_robot.yaml end to end with the bundled models: a synthetic cry scene and a
real stream of unseen recordings (the fixed test split) through the whole graph."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .conftest import ROOT, cli, data_file, free_port

CONFIG = str(ROOT / "configs" / "cry_robot.yaml")
NEEDS = {"belly_pain", "burping", "discomfort", "hungry", "tired"}


def run_robot(*args: str, timeout: float = 60):
    """``streamser run configs/cry_robot.yaml ARGS``, its event publisher on a free port
    (another run on the machine may hold the default 5556)."""
    return cli("run", CONFIG, *args, "--set",
               f"publish.endpoint=tcp://127.0.0.1:{free_port()}", timeout=timeout)


def _speech_then_cry(tmp_path: Path) -> tuple[Path, float, float]:
    """A 16 kHz file of speech (emodb) then a real cry (ESC-50), with the cry's start and
    end in stream seconds."""
    import soundfile as sf

    from streamser.train.clips import load_audio

    speech = load_audio(data_file("emodb/03a01Nc.flac"), 16000)
    cry = load_audio(data_file("babycry_esc/crying/1-211527-A.flac"), 16000)
    stream = tmp_path / "speech_then_cry.flac"
    sf.write(stream, np.concatenate([speech, cry]), 16000)
    return stream, len(speech) / 16000, (len(speech) + len(cry)) / 16000


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _check_fields(events: list[dict]) -> None:
    assert events, "no events"
    open_start = None
    for e in events:
        assert e["stream"] == "default" and e["emitted_at"] >= e["t"]
        if e["event"] == "cry_start":
            assert open_start is None and 0 <= e["score"] <= 1
            open_start = e["t"]
        else:
            assert e["event"] == "cry_end" and e["start"] == open_start and e["t"] > e["start"]
            _check_guess(e)
            open_start = None


def _check_guess(e: dict) -> None:
    """A need guess: calibrated probabilities over the five needs, and a label that is the
    top one when it reaches the model's min_confidence, else null (abstention)."""
    from streamser.zoo import ZOO
    min_conf = json.loads((ZOO / "cry-need-cal.json").read_text())["min_confidence"]
    assert set(e["label_scores"]) == NEEDS
    assert abs(sum(e["label_scores"].values()) - 1) < 0.02
    top = max(e["label_scores"], key=e["label_scores"].get)
    # scores are rounded to 0.001 in the event; min_confidence 1 never names a need
    if min_conf >= 1:
        assert e["label"] is None
    elif e["label_scores"][top] >= min_conf + 0.001:
        assert e["label"] == top
    elif e["label_scores"][top] < min_conf - 0.001:
        assert e["label"] is None
    assert e["label"] in NEEDS | {None}


def test_cry_robot_on_unseen_real_recordings(tmp_path: Path) -> None:
    manifests = [data_file(f"{m}/manifest.csv") for m in ("donateacry", "babycry_esc", "emodb")]
    stream = tmp_path / "stream.flac"
    r = cli("mkstream", *map(str, manifests), "--minutes", "2", "--test-k", "5",
            "--out", str(stream), "--seed", "11")
    assert r.returncode == 0, r.stderr
    events = tmp_path / "events.jsonl"
    r = run_robot("--input", str(stream), "--events", str(events), "-q", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    found = _events(events)
    _check_fields(found)
    from streamser.evaluation.eventscore import read_detections, read_truth, score

    episodes, length = read_truth(stream.with_suffix(".truth.csv"))
    s = score(episodes, read_detections(events), length)
    # regression guards at the robot's measured level (docs/results.md has its
    # leave-source-out curves and the goals): most episodes found, few false starts,
    # confirmed within the 2.5 s p95 goal
    assert s["episodes"] >= 5 and s["recall"] >= 0.6 and s["precision"] >= 0.8
    assert s["latency_median_s"] <= 2.5


def test_cry_robot_confirms_a_real_cry_within_the_p95_goal(tmp_path: Path) -> None:
    """Speech (emodb, 16 kHz), then a real cry (ESC-50): no cry during the speech, and
    cry_start is emitted at most 2.5 s of stream time after the cry began (the p95
    latency goal; the robot's median on sources it never heard is 1.6 s)."""
    stream, onset, _ = _speech_then_cry(tmp_path)
    events = tmp_path / "events.jsonl"
    r = run_robot("--input", str(stream), "--events", str(events), "-q", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    starts = [e for e in _events(events) if e["event"] == "cry_start"]
    assert starts, "the cry was not detected"
    assert starts[0]["t"] >= onset - 0.5, f"a cry_start during the speech: {starts[0]}"
    assert starts[0]["emitted_at"] - onset <= 2.5, starts[0]


def test_cry_robot_stays_quiet_on_the_synthetic_cry_imitations(tmp_path: Path) -> None:
    """synth:cry_scene's cries are harmonic tones with a cry's pitch contour, not cries:
    cry-head, trained on real cries, keeps them below its start threshold (as it must for
    a toy's or a phone's tones), while the file run still ends cleanly."""
    events = tmp_path / "events.jsonl"
    r = run_robot("--input", "synth:cry_scene", "--set", "mic.duration=50",
                  "--set", "mic.episodes=3", "--events", str(events), "-q", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [e for e in _events(events) if e["event"] == "cry_start"] == []


def test_cry_robot_running_need_guess_on_a_real_cry(tmp_path: Path) -> None:
    """`--set smooth.update=1`: while a real cry goes on, a cry_update each second with the
    running need guess, between its cry_start and cry_end."""
    events = tmp_path / "events.jsonl"
    clip = data_file("babycry_esc/crying/1-211527-A.flac")
    r = run_robot("--input", str(clip), "--set", "smooth.update=1",
            "--events", str(events), "-q", timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    found = _events(events)
    updates = [e for e in found if e["event"] == "cry_update"]
    _check_fields([e for e in found if e["event"] != "cry_update"])
    start = found[0]
    assert start["event"] == "cry_start" and found[-1]["event"] == "cry_end" and updates
    assert found.index(updates[0]) == 1 and found.index(updates[-1]) == len(found) - 2
    for e in updates:
        assert e["start"] == start["t"] and 0 <= e["score"] <= 1
        _check_guess(e)
    gaps = np.diff([start["emitted_at"]] + [e["emitted_at"] for e in updates])
    assert np.all(gaps >= 1.0 - 1e-6) and np.all(gaps < 1.5)


def test_robot_front_end_here_inference_there_over_tcp(tmp_path: Path) -> None:
    """Many robots, one server: the robot runs capture to patches, the server the models
    and events, linked over tcp on loopback (`streamser node --only`); the events,
    need guess included, are the ones the single-process run gives, though the fan-ins
    (gate, merges) get their inputs in another order across processes."""
    import subprocess
    import sys

    import yaml

    from .conftest import free_port

    clip = data_file("babycry_esc/crying/1-211527-A.flac")
    spec = yaml.safe_load(Path(CONFIG).read_text())
    nodes = spec["nodes"]
    del nodes["console"], nodes["publish"]
    nodes["mic"] = {"plugin": "source.file", "params": {"path": str(clip), "block": 4096}}
    nodes["events"]["params"]["path"] = str(tmp_path / "split.jsonl")
    robot = ["mic", "resample", "logmel", "patch"]
    server = [n for n in nodes if n not in robot]
    inputs = {n: nodes[n]["input"] for n in server}
    linked = [n for n in server                          # their producers run on the robot
              if {*([inputs[n]] if isinstance(inputs[n], str) else inputs[n])} & {*robot}]
    assert "needgate" in linked and "yamnet" in linked
    for name in linked:
        nodes[name]["endpoint"] = f"tcp://127.0.0.1:{free_port()}"
    config = tmp_path / "split.yaml"
    config.write_text(yaml.safe_dump(spec, sort_keys=False))
    remote = subprocess.Popen([sys.executable, "-m", "streamser", "node", str(config),
                               "--only", ",".join(server), "-q"], stderr=subprocess.PIPE,
                              text=True)
    local = cli("node", str(config), "--only", ",".join(robot), "-q", timeout=120)
    assert local.returncode == 0, local.stderr
    assert remote.wait(timeout=120) == 0, remote.stderr.read() if remote.stderr else ""
    r = cli("run", str(config), "--events", str(tmp_path / "single.jsonl"), "-q", timeout=120)
    assert r.returncode == 0, r.stderr

    def timing(path: Path) -> list[tuple]:
        return [(e["event"], e["t"], e["emitted_at"], e.get("start"))
                for e in _events(path)]

    split = timing(tmp_path / "split.jsonl")
    assert split and split[0][0] == "cry_start" and split == timing(tmp_path / "single.jsonl")
    guesses = [[(e.get("label"), e.get("label_scores")) for e in _events(tmp_path / f)
                if e["event"] == "cry_end"] for f in ("split.jsonl", "single.jsonl")]
    assert guesses[0] == guesses[1] and all(scores for _, scores in guesses[0])


def test_microcontroller_robot_on_a_real_cry(tmp_path: Path) -> None:
    """configs/cry_robot_mcu.yaml: the distilled detector alone, within the board budget
    (<= 100 KiB int8), finds a real cry after speech, not during it, and names no need
    (no need branch)."""
    from streamser.zoo import ZOO

    assert (ZOO / "cry-detector-distilled.int8.tflite").stat().st_size <= 100 * 1024
    stream, onset, cry_end = _speech_then_cry(tmp_path)
    events = tmp_path / "events.jsonl"
    r = cli("run", str(ROOT / "configs" / "cry_robot_mcu.yaml"), "--input", str(stream),
            "--events", str(events), "-q", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    found = _events(events)
    starts = [e for e in found if e["event"] == "cry_start"]
    assert starts and starts[0]["t"] >= onset - 0.5, found
    # confirmed while the cry still lasts (its measured latency: median 1.16 s, p95 4.7 s
    # on the 80-minute test stream, docs/results.md)
    assert starts[0]["emitted_at"] <= cry_end, starts[0]
    assert all("label" not in e for e in found if e["event"] == "cry_end")
