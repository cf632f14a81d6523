"""sink.mqtt against a real broker (Debian's mosquitto on a free port): every event
arrives, in order, the first of a file run included; the retained state and the Home
Assistant discovery configs are there; a 10 s broker stop in the middle of a paced run
loses nothing; undelivered events survive a restart on disk; a wrong password is one
clear line."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from broker import Mosquitto, Subscriber, retained
from conftest import cli, data_file

from streamser.executors import Control, run
from streamser.graph import build_graph

pytest.importorskip("paho.mqtt", reason="paho-mqtt (the home extra) is not installed")

USER = ("robot", "s3cret-pass")
PREFIX = "streamser/home_test"


def recording(tmp_path: Path, seconds: float) -> Path:
    """Real audio: babycry_esc cries and silences in turn, ``seconds`` long, 16 kHz."""
    folder = data_file("babycry_esc")
    clips = [*sorted((folder / "crying").glob("*.flac"))[:6],
             *sorted((folder / "silence").glob("*.flac"))[:6]]
    parts = [sf.read(p, dtype="float32")[0] for p in clips[::2] + clips[1::2]]
    x = np.concatenate(parts * 4)[:round(seconds * 16000)]
    assert len(x) == round(seconds * 16000)
    path = tmp_path / "scene.flac"
    sf.write(path, x, 16000)
    return path


def graph(tmp_path: Path, audio: Path, port: int, events: list[tuple[str, float]],
          realtime: bool = False, **mqtt: object) -> dict:
    cred = tmp_path / "mqtt.credentials"
    cred.write_text(":".join(USER) + "\n")
    return {"name": "home_test", "nodes": {
        "mic": {"plugin": "source.file", "params": {"path": str(audio), "block": 1600,
                                                    "realtime": realtime}},
        "detect": {"plugin": "ionodes_helpers:EventsAt", "input": "mic",
                   "params": {"events": [list(e) for e in events], "delay": 0.4}},
        "describe": {"plugin": "describe.cry", "input": ["mic", "detect"]},
        "events": {"plugin": "sink.events", "input": "describe",
                   "params": {"path": str(tmp_path / "events.jsonl")}},
        "mqtt": {"plugin": "sink.mqtt", "input": "describe", "params": {
            "port": port, "credentials": str(cred), **mqtt}}}}


def cries(seconds: float, every: float = 2.0) -> list[tuple[str, float]]:
    out = []
    for k, t in enumerate(np.arange(0.2, seconds - 1.5, every)):
        out.append(("cry_start" if k % 2 == 0 else "cry_end", round(float(t), 3)))
    return out if out[-1][0] == "cry_end" else out[:-1]


def lines(path: Path) -> list[str]:
    return [json.dumps(json.loads(x)) for x in path.read_text().splitlines()]


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(tmp_path / "broker", user=USER)
    yield b
    b.stop()


def test_every_event_arrives_with_state_and_discovery(tmp_path, broker) -> None:
    audio = recording(tmp_path, 12.0)
    sub = Subscriber(broker.port, [f"{PREFIX}/#"], auth=USER)
    try:
        run(build_graph(graph(tmp_path, audio, broker.port, [("cry_start", 0.0),
                                                              *cries(12.0)[1:]])))
        written = lines(tmp_path / "events.jsonl")
        got = [json.dumps(json.loads(p)) for p in sub.wait_for(f"{PREFIX}/events",
                                                               len(written))]
    finally:
        sub.close()
    assert written[0].startswith('{"event": "cry_start", "stream": "default", "t": 0.0')
    assert got == written  # every event, the first included, in order, as in the file
    assert all("intensity" in json.loads(x) for x in written if '"cry_end"' in x)

    kept = retained(broker.port, ["#"], auth=USER)
    assert kept[f"{PREFIX}/cry"] == "OFF" and kept[f"{PREFIX}/status"] == "offline"
    assert kept[f"{PREFIX}/intensity"] == "0.000"
    assert f"{PREFIX}/score" not in kept  # these scripted events carry no score
    node = "streamser_home_test"
    configs = {t.split("/")[1] + "/" + t.split("/")[3]: json.loads(p)
               for t, p in kept.items() if t.startswith("homeassistant/")}
    assert set(configs) == {"binary_sensor/crying", "sensor/cry_score",
                            "sensor/cry_intensity"}
    crying = configs["binary_sensor/crying"]
    assert crying["device_class"] == "sound" and crying["state_topic"] == f"{PREFIX}/cry"
    assert (crying["payload_on"], crying["payload_off"]) == ("ON", "OFF")
    for name, config in configs.items():
        assert config["availability_topic"] == f"{PREFIX}/status"
        assert config["unique_id"] == f"{node}_{name.split('/')[1]}"
        assert config["device"]["identifiers"] == [node]  # one device
    assert configs["sensor/cry_score"]["state_topic"] == f"{PREFIX}/score"
    assert configs["sensor/cry_intensity"]["state_topic"] == f"{PREFIX}/intensity"


@pytest.mark.slow
def test_a_10_s_broker_stop_mid_paced_run_loses_no_event(tmp_path, broker) -> None:
    seconds = 30.0
    audio = recording(tmp_path, seconds)
    sub = Subscriber(broker.port, [f"{PREFIX}/events"], session="test-listener", auth=USER)
    control = Control()
    g = build_graph(graph(tmp_path, audio, broker.port, cries(seconds, every=1.0),
                          realtime=True, drain=20.0))
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(run(g, "threads", control)))
    runner.start()
    try:
        time.sleep(8.0)
        before = len(sub.on(f"{PREFIX}/events"))
        broker.stop()
        time.sleep(10.0)
        broker.start()
        runner.join(60)
        assert not runner.is_alive()
        written = lines(tmp_path / "events.jsonl")
        got = sub.wait_for(f"{PREFIX}/events", len(written), seconds=30)
    finally:
        control.request_stop()
        sub.close()
    arrived = list(dict.fromkeys(json.dumps(json.loads(p)) for p in got))  # at least once
    assert 4 <= before < len(written) - 8  # the stop fell in the middle of the run
    assert arrived == written


def test_events_kept_on_disk_are_delivered_at_the_next_start(tmp_path, broker) -> None:
    audio = recording(tmp_path, 6.0)
    spool = tmp_path / "out" / "mqtt.spool"  # a folder not made yet: the sink makes it
    port = broker.port
    broker.stop()  # away for the whole first run
    first = graph(tmp_path, audio, port, cries(6.0), spool=str(spool), drain=0.5,
                  connect_wait=0.5)
    run(build_graph(first))
    undelivered = lines(tmp_path / "events.jsonl")
    assert len(undelivered) >= 2
    assert [json.dumps(json.loads(json.loads(x)["payload"])) for x in
            spool.read_text().splitlines()] == undelivered
    broker.start()
    sub = Subscriber(port, [f"{PREFIX}/events"], auth=USER)
    try:
        second = graph(tmp_path, audio, port, [("cry_start", 1.0), ("cry_end", 3.0)],
                       spool=str(spool))
        run(build_graph(second))
        fresh = lines(tmp_path / "events.jsonl")
        got = [json.dumps(json.loads(p)) for p in
               sub.wait_for(f"{PREFIX}/events", len(undelivered) + len(fresh))]
    finally:
        sub.close()
    assert got == undelivered + fresh  # the old ones first, in order
    assert spool.read_text() == ""  # delivered: the spool is empty again


def test_a_wrong_password_is_one_clear_line(tmp_path, broker) -> None:
    audio = recording(tmp_path, 4.0)
    g = graph(tmp_path, audio, broker.port, cries(4.0))
    (tmp_path / "mqtt.credentials").write_text("robot:not-the-password\n")
    config = tmp_path / "g.yaml"
    config.write_text(yaml.safe_dump(g))
    res = cli("run", str(config), "-q")
    assert res.returncode == 1
    err = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(err) == 1, res.stderr
    assert "node 'mqtt' failed" in err[0] and "refused" in err[0]
    assert "user name and password" in err[0] and f":{broker.port}" in err[0]


def test_a_bad_credentials_file_is_a_validation_error(tmp_path) -> None:
    bad = tmp_path / "cred"
    bad.write_text("no colon here\n")
    config = tmp_path / "g.yaml"
    config.write_text(yaml.safe_dump({"nodes": {
        "src": {"plugin": "source.synth", "params": {"signal": "noise", "duration": 1}},
        "mqtt": {"plugin": "sink.mqtt", "input": "src",
                 "params": {"credentials": str(bad)}}}}))
    res = cli("validate", str(config))
    assert res.returncode == 2
    assert "first line must be USER:PASSWORD" in res.stderr
