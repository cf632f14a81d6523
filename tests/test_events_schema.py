"""Events a program can rely on: every event the bundled graphs emit on real recordings
validates against the JSON Schema in docs/events.md; a subscriber that connects before a
file run starts gets every event, the first included (``streamser listen``, in every
executor); silence on an endpoint is said; lost frames are said when they are lost."""
from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT, cli, data_file, free_port

import streamser

jsonschema = pytest.importorskip("jsonschema", reason="the dev extra installs jsonschema")
CONFIGS = ROOT / "configs"


def schema() -> dict:
    text = (ROOT / "docs" / "events.md").read_text()
    block = re.search(r"## JSON Schema.*?```json\n(.*?)```", text, re.S)
    assert block, "no JSON Schema block in docs/events.md"
    loaded = json.loads(block.group(1))
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


@pytest.fixture(scope="module")
def speech_cries(tmp_path_factory) -> Path:
    """Speech (emodb), a real cry (ESC-50), laughter, the cry again: 16 kHz."""
    from streamser.train.clips import load_audio
    parts = [load_audio(data_file(p), 16000) for p in (
        "emodb/03a01Nc.flac", "babycry_esc/crying/1-211527-A.flac",
        "babycry_esc/laugh/laugh_1.m4a_3.flac", "babycry_esc/crying/1-211527-A.flac")]
    path = tmp_path_factory.mktemp("events") / "speech_cries.wav"
    sf.write(path, np.concatenate(parts), 16000, subtype="PCM_16")
    return path


#: (config, input (None: the speech_cries file), overrides) for every bundled graph that
#: emits events; cry_robot with running updates too.
BUNDLED = [("cry_robot.yaml", None, {"smooth.update": 1}), ("cry_robot_quiet.yaml", None, {}),
           ("cry_robot_mcu.yaml", None, {}), ("cry_yamnet_zeroshot.yaml", None, {}),
           ("cry_scene_demo.yaml", "synth:cry_scene", {"src.duration": 30}),
           ("emotion.yaml", "emodb/03a01Wa.flac", {}), ("sound_tagger.yaml", None, {})]


@pytest.mark.parametrize("config,input_,sets", BUNDLED, ids=[b[0] for b in BUNDLED])
def test_every_bundled_event_validates(config, input_, sets, validator, speech_cries) -> None:
    source = str(speech_cries) if input_ is None else \
        input_ if input_.startswith("synth:") else str(data_file(input_))
    events = list(streamser.open(CONFIGS / config, set=sets).run(source))
    assert events, f"{config} emitted no event on {source}"
    for event in events:
        errors = [e.message for e in validator.iter_errors(event)]
        assert not errors, (config, event, errors)
        assert event["emitted_at"] >= event["t"]
    names = {e["event"] for e in events}
    if config == "cry_robot.yaml":
        assert names == {"cry_start", "cry_update", "cry_end"}
        assert all("label_scores" in e for e in events if e["event"] == "cry_end")


@pytest.mark.parametrize("event,why", [
    ({"event": "cry_start", "stream": "default", "t": 1.0, "score": 0.9}, "emitted_at"),
    ({"event": "cry_start", "stream": "default", "t": 1.0, "emitted_at": 1.5, "score": 1.5},
     "maximum"),
    ({"event": "cry_end", "stream": "default", "t": 3.0, "emitted_at": 3.0}, "start"),
    ({"event": "cry_end", "stream": "default", "t": 3.0, "emitted_at": 3.0, "start": 1.0,
      "label": "hungry"}, "label_scores"),
    ({"event": "emotion", "stream": "default", "t": 0.0, "emitted_at": 2.0, "start": 0.0,
      "end": 2.0, "label": "anger", "label_scores": "anger"}, "object"),
    ({"event": "sound", "stream": "default", "t": 0.0, "emitted_at": 1.0,
      "top": [["Speech"]]}, "top"),
])
def test_the_schema_rejects_what_a_program_could_not_rely_on(event, why, validator) -> None:
    errors = " ".join(f"{e.message} {list(e.path)}" for e in validator.iter_errors(event))
    assert errors and why in errors, errors


def _listen(endpoint: str) -> subprocess.Popen[str]:
    """``streamser listen ENDPOINT``, connected (and retrying) before anything publishes."""
    proc = subprocess.Popen([sys.executable, "-m", "streamser", "listen", endpoint],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)                                   # it imports, connects, retries
    return proc


@pytest.mark.parametrize("executor", ["inline", "processes"])
def test_a_subscriber_that_connected_first_gets_every_event(executor, tmp_path) -> None:
    """The first event of a file run comes half a second of audio in: a publisher that
    did not wait for its subscriber would lose it (and, run alone, everything)."""
    cry = data_file("babycry_esc/crying/1-211527-A.flac")
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    listener = _listen(endpoint)
    res = cli("run", str(CONFIGS / "cry_robot.yaml"), "--input", str(cry), "-q",
              "-x", executor, "--events", str(tmp_path / "e.jsonl"),
              "--set", f"publish.endpoint={endpoint}", timeout=120)
    out, err = listener.communicate(timeout=30)      # it ends at the end of stream
    assert res.returncode == 0, res.stderr
    assert listener.returncode == 0, err
    written = (tmp_path / "e.jsonl").read_text().splitlines()
    assert written and written[0].startswith('{"event": "cry_start"')
    assert out.splitlines() == written


def test_silence_on_an_endpoint_is_said() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    for cmd in (("listen", endpoint, "--seconds", "0.5"),
                ("monitor", endpoint, "--seconds", "0.5", "--once")):
        res = cli(*cmd)
        assert res.returncode == 1, res.stderr
        assert f"error: nothing arrived from {endpoint} in 0.5 s" in res.stderr
        assert res.stdout == ""


def test_lost_audio_frames_are_said_when_lost(caplog) -> None:
    """source.zmq: a gap in a stream's sequence numbers is counted and logged at once."""
    import zmq

    from streamser.frames import Frame
    from streamser.plugins.sources.zmqsub import ZmqSource, ZmqSubParams
    from streamser.wire import encode, encode_eos
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.bind(endpoint)
    src = ZmqSource(ZmqSubParams(endpoint=endpoint, until_eos=True), "net")
    src.start()
    try:
        assert pub.poll(10_000) and pub.recv() == b"\x01"
        for seq in (0, 1, 2, 5, 6, 20):
            frame = Frame("audio", np.zeros(160, np.float32), t=seq / 100, seq=seq,
                          meta={"sample_rate": 16000})
            pub.send_multipart([b"mic", *encode(frame)])
        pub.send_multipart([b"mic", *encode_eos("mic")])
        with caplog.at_level(logging.WARNING):
            frames = list(src.frames())
    finally:
        src.stop()
        ctx.destroy()
    assert [f.seq for f in frames] == [0, 1, 2, 5, 6, 20] and src.missing == 2 + 13
    said = [r.getMessage() for r in caplog.records if "did not arrive" in r.getMessage()]
    assert said[0].startswith("source.zmq 'net': 2 audio frame(s) of stream 'default'")
    assert "15 audio frame(s)" in said[1] and len(said) == 2


def test_a_live_source_that_drops_says_so(tmp_path, caplog) -> None:
    from streamser.executors import run
    from streamser.graph import build_graph
    graph = build_graph({"name": "slow", "queue": 2, "nodes": {
        "src": {"plugin": "source.synth", "params": {
            "signal": "noise", "block": 160, "duration": 1.0, "realtime": True}},
        "slow": {"plugin": "testnodes:Slow", "input": "src", "params": {"ms": 25}},
        "out": {"plugin": "sink.npy", "input": "slow",
                "params": {"path": str(tmp_path / "o.npy")}}}})
    with caplog.at_level(logging.WARNING):
        metrics = run(graph, "threads")
    said = [r.getMessage() for r in caplog.records if "dropped so far" in r.getMessage()]
    assert metrics["src"]["dropped"] > 10 and said
    assert said[0].startswith("node 'src': 1 frame(s) dropped so far")
