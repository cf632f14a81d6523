"""I/O nodes: microphone, ZeroMQ publish/subscribe between graphs, commands, episode
recording, and the live monitor."""
from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import zmq
from conftest import cli, free_port
from ionodes_helpers import event_frame

from streamser.devices import AudioUnavailable, input_devices
from streamser.executors import Control, run
from streamser.frames import Frame
from streamser.graph import GraphError, build_graph
from streamser.wire import encode, encode_eos

NO_MIC = "use --input FILE or --input synth:NAME"


def read_mono(path: Path) -> np.ndarray:
    x, _ = sf.read(path, dtype="float32", always_2d=True)
    return x.mean(axis=1, dtype=np.float32)


# microphone --------------------------------------------------------------------------

@pytest.fixture
def capture_device() -> None:
    try:
        found = input_devices()
    except AudioUnavailable as exc:
        pytest.skip(str(exc))
    if not found:
        pytest.skip("no audio capture device (docs/io.md, 'No sound card': an ALSA input "
                    "that captures silence)")


def test_mic_frames_are_mono_float32_with_sample_counted_times(capture_device) -> None:
    from streamser.plugins.sources.mic import MicParams, MicSource
    mic = MicSource(MicParams(block=512, sample_rate=16000, channels=2, buffer=0.1), "mic")
    mic.start()
    try:
        time.sleep(0.3)  # a device without a clock (ALSA file/null) overruns the buffer
        frames = list(itertools.islice(mic.frames(), 12))
    finally:
        mic.close()
        mic.stop()
    assert all(f.kind == "audio" and f.data.dtype == np.float32 and f.data.shape == (512,)
               for f in frames)
    assert all(f.meta["sample_rate"] == 16000 and f.stream == "default" for f in frames)
    positions = [round(f.t * 16000) for f in frames]
    assert all(p % 512 == 0 for p in positions) and positions == sorted(set(positions))
    lost = sum(b - a - 512 for a, b in zip(positions, positions[1:])) + positions[0]
    assert mic.dropped_samples == lost
    assert [bool(f.meta.get("gap")) for f in frames[1:]] == [
        b - a > 512 for a, b in zip(positions, positions[1:])]


def test_mic_errors_say_what_to_do(tmp_path, monkeypatch) -> None:
    from streamser.plugins.sources.mic import MicParams, MicSource
    monkeypatch.setitem(sys.modules, "pyaudio", None)  # import pyaudio -> ImportError
    mic = MicSource(MicParams(), "mic")
    with pytest.raises(AudioUnavailable, match="pip install 'streamser.mic.'.*" + NO_MIC):
        mic.start()
    mic.stop()
    blocker = tmp_path / "pyaudio.py"
    blocker.write_text("raise ImportError('pyaudio blocked by a test')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    res = cli("devices")
    assert res.returncode == 1 and len(res.stderr.splitlines()) == 1
    assert "pyaudio is not installed" in res.stderr and NO_MIC in res.stderr


def test_mic_unknown_device_lists_the_inputs(capture_device) -> None:
    from streamser.plugins.sources.mic import MicParams, MicSource
    mic = MicSource(MicParams(device="no-such-microphone"), "mic")
    with pytest.raises(AudioUnavailable, match=r"matches 'no-such-microphone' \(inputs: 0: "):
        mic.start()
    mic.stop()


def test_devices_command_lists_inputs(capture_device) -> None:
    res = cli("devices")
    assert res.returncode == 0, res.stderr
    index, name = res.stdout.splitlines()[0].split()[:2]
    assert index.isdigit() and "ch," in res.stdout and "Hz)" in res.stdout


# ZeroMQ publish / subscribe ---------------------------------------------------------

def test_zmq_round_trip_between_two_graphs(tmp_path, cry_clip) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    publisher = build_graph({"name": "pub", "nodes": {
        "src": {"plugin": "source.file", "params": {"path": str(cry_clip), "block": 4000}},
        "det": {"plugin": "ionodes_helpers:EventsAt", "input": "src",
                "params": {"events": [["cry_start", 1.5], ["cry_end", 3.0]]}},
        "out": {"plugin": "sink.zmq", "input": ["src", "det"],
                "params": {"endpoint": endpoint, "wait": 20}}}})
    subscriber = build_graph({"name": "sub", "nodes": {
        "net": {"plugin": "source.zmq", "params": {
            "endpoint": endpoint, "topics": ["out"], "kinds": ["audio", "event"],
            "until_eos": True}},
        "save": {"plugin": "sink.jsonl", "input": "net",
                 "params": {"path": str(tmp_path / "got.jsonl")}}}})
    metrics: dict = {}
    sub = threading.Thread(target=lambda: metrics.update(run(subscriber, "threads")))
    sub.start()
    run(publisher, "threads")
    sub.join(20)
    assert not sub.is_alive(), "the subscriber did not end at the publisher's end of stream"
    rows = [json.loads(line) for line in (tmp_path / "got.jsonl").read_text().splitlines()]
    audio = [r for r in rows if r["kind"] == "audio"]
    got = np.concatenate([np.array(r["data"], np.float32) for r in audio])
    x = read_mono(cry_clip)
    assert got.tobytes() == x.tobytes()  # every sample, bit-exact
    assert len(audio) == -(-len(x) // 4000)
    assert [r["t"] for r in audio] == [i * 4000 / 16000 for i in range(len(audio))]
    events = [r["meta"] for r in rows if r["kind"] == "event"]
    assert events == [{"event": "cry_start", "stream": "default", "t": 1.5, "emitted_at": 2.0},
                      {"event": "cry_end", "stream": "default", "t": 3.0, "emitted_at": 3.5}]
    assert metrics["net"]["frames_out"] == len(rows) == len(audio) + 2


def test_zmq_source_kinds_are_checked_downstream() -> None:
    def graph(kinds: list[str]) -> object:
        return build_graph({"nodes": {
            "net": {"plugin": "source.zmq", "params": {"kinds": kinds}},
            "gain": {"plugin": "filter.gain", "input": "net"},
            "out": {"plugin": "sink.npy", "input": "gain", "params": {"path": "x.npy"}}}})
    graph(["audio"])
    graph(["audio", "event"])  # gain takes the audio; the events go only where taken
    with pytest.raises(GraphError, match="'net' emits event frames but filter.gain accepts "
                                         "only audio"):
        graph(["event"])
    with pytest.raises(GraphError, match="params.endpoint: .*must be tcp://"):
        build_graph({"nodes": {"net": {"plugin": "source.zmq",
                                       "params": {"endpoint": "localhost:5556"}}}})


def _publisher(endpoint: str) -> tuple[zmq.Context, zmq.Socket]:
    """An XPUB socket: it reports subscriptions, so a test knows when to publish."""
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.linger = 0
    pub.bind(endpoint)
    return ctx, pub


def test_zmq_source_drops_and_counts_malformed_messages() -> None:
    from streamser.plugins.sources.zmqsub import ZmqSource, ZmqSubParams
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx, pub = _publisher(endpoint)
    src = ZmqSource(ZmqSubParams(endpoint=endpoint, topics=["a"], until_eos=True), "net")
    src.start()
    try:
        assert pub.poll(10_000) and pub.recv() == b"\x01a"
        good = Frame("audio", np.arange(4, dtype=np.float32), t=0.5, seq=7,
                     meta={"sample_rate": 8})
        header = encode(good)[0]
        for junk in ([b"a"], [b"a", b"not json", b""], [b"a", header, b"\x00" * 3],
                     [b"a", b'{"v": 1, "kind": "audio"}', b""], [b"a", header, b"", b""]):
            pub.send_multipart(junk)
        pub.send_multipart([b"ab", *encode(good)])  # a longer topic: SUB's prefix match
        pub.send_multipart([b"a", *encode(event_frame("cry_start", 0.0, 0.1))])  # not a kind
        pub.send_multipart([b"a", *encode(good)])
        pub.send_multipart([b"a", *encode_eos("a")])
        frames = list(src.frames())  # ends at the end of stream
    finally:
        src.stop()
        ctx.destroy()
    assert len(frames) == 1 and frames[0].data.tolist() == [0, 1, 2, 3]
    assert (frames[0].t, frames[0].seq, frames[0].meta) == (0.5, 7, {"sample_rate": 8})
    assert (src.rejected, src.unexpected) == (5, 2)


def test_zmq_source_close_ends_a_silent_stream() -> None:
    from streamser.plugins.sources.zmqsub import ZmqSource, ZmqSubParams
    src = ZmqSource(ZmqSubParams(endpoint=f"tcp://127.0.0.1:{free_port()}"), "net")
    src.start()
    threading.Timer(0.2, src.close).start()  # as on Ctrl-C: no publisher, nothing arrives
    t0 = time.monotonic()
    assert list(src.frames()) == []
    src.stop()
    assert time.monotonic() - t0 < 2


def test_zmq_publish_with_curve(tmp_path) -> None:
    from streamser.plugins.sinks.zmqpub import ZmqPubParams, ZmqSink
    from streamser.plugins.sources.zmqsub import ZmqSource, ZmqSubParams

    from streamser.security import make_keys
    _, secret = make_keys(tmp_path)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    sink = ZmqSink(ZmqPubParams(endpoint=endpoint, curve=str(secret), wait=10), "out")
    src = ZmqSource(ZmqSubParams(endpoint=endpoint, curve=str(secret), until_eos=True), "net")
    src.start()
    starting = threading.Thread(target=sink.start)
    starting.start()
    starting.join(15)
    try:
        sink.process(Frame("audio", np.ones(3, np.float32), meta={"sample_rate": 8}))
        sink.flush()
        frames = list(src.frames())
    finally:
        src.stop()
        sink.stop()
    assert [f.data.tolist() for f in frames] == [[1, 1, 1]]


# sink.command -----------------------------------------------------------------------

RECORDER = """\
import json, os, sys, time
event = json.load(sys.stdin)
name = f"{event['event']}-{event['t']}"
time.sleep(float(sys.argv[2]))
with open(os.path.join(sys.argv[1], name + ".json"), "w") as fh:
    json.dump({"stdin": event, "env": {k: v for k, v in os.environ.items()
                                       if k.startswith("STREAMSER_")}}, fh)
"""


def test_command_sink_runs_program_rate_limited_with_event(tmp_path) -> None:
    from streamser.plugins.sinks.command import CommandParams, CommandSink
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    out = tmp_path / "runs"
    out.mkdir()
    sink = CommandSink(CommandParams(
        argv=[sys.executable, "-I", "-S", str(script), str(out), "0"],
        events=["cry_start", "laugh"], min_interval=2.0, max_running=4), "act")
    sink.start()
    for name, t, at in [("cry_start", 0.0, 0.5), ("cry_end", 1.0, 1.5), ("cry_start", 1.6, 2.0),
                        ("laugh", 1.7, 2.1), ("cry_start", 2.2, 2.6), ("cry_start", 9.0, 9.5)]:
        assert sink.process(event_frame(name, t, at, score=0.9)) == ()
    sink.flush()
    deadline = time.monotonic() + 20  # a loaded machine may start programs slowly
    while len(list(out.iterdir())) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    sink.stop()
    # emitted_at 0.5 runs; 2.0 is 1.5 s later: skipped; 2.6 is 2.1 s later: runs; so does 9.5
    assert sorted(p.stem for p in out.iterdir()) == [
        "cry_start-0.0", "cry_start-2.2", "cry_start-9.0", "laugh-1.7"]
    assert (sink.ran, sink.rate_limited, sink.busy) == (4, 1, 0)
    run0 = json.loads((out / "cry_start-0.0.json").read_text())
    assert run0["stdin"] == {"event": "cry_start", "stream": "default", "t": 0.0,
                             "emitted_at": 0.5, "score": 0.9}
    env = run0["env"]
    assert (env["STREAMSER_EVENT"], env["STREAMSER_T"], env["STREAMSER_EMITTED_AT"],
            env["STREAMSER_STREAM"], env["STREAMSER_SCORE"]) == (
        "cry_start", "0.0", "0.5", "default", "0.9")
    assert json.loads(env["STREAMSER_JSON"]) == run0["stdin"]


def test_command_sink_never_waits_for_busy_programs(tmp_path) -> None:
    from streamser.plugins.sinks.command import CommandParams, CommandSink
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    sink = CommandSink(CommandParams(argv=[sys.executable, "-I", "-S", str(script),
                                           str(tmp_path), "30"], min_interval=0,
                                     max_running=1), "act")
    sink.start()
    t0 = time.monotonic()
    for i in range(5):
        sink.process(event_frame("cry_start", float(i), i + 0.5))
    took = time.monotonic() - t0
    sink.stop()  # ends the sleeping program
    assert took < 1.0 and (sink.ran, sink.busy) == (1, 4)
    assert not list(tmp_path.glob("cry_start-*.json"))
    with pytest.raises(GraphError, match="params.argv: .*no executable program"):
        build_graph({"nodes": {"s": {"plugin": "source.synth"}, "c": {
            "plugin": "sink.command", "input": "s", "params": {"argv": ["no-such-prog"]}}}})


# sink.wav ---------------------------------------------------------------------------

@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_wav_sink_records_episode_with_preroll(tmp_path, cry_clip, executor) -> None:
    graph = build_graph({"name": "rec", "nodes": {
        "src": {"plugin": "source.file", "params": {"path": str(cry_clip), "block": 1000}},
        "det": {"plugin": "ionodes_helpers:EventsAt", "input": "src", "params": {
            "events": [["cry_start", 1.5], ["cry_end", 3.0], ["cry_start", 4.2]],
            "delay": 0.7}},
        "rec": {"plugin": "sink.wav", "input": ["src", "det"], "params": {
            "dir": str(tmp_path), "preroll": 1.0, "postroll": 0.25}}}})
    run(graph, executor)
    x = read_mono(cry_clip)
    first, rate = sf.read(tmp_path / "default_1.500s.wav", dtype="float32")
    assert rate == 16000 and sf.info(tmp_path / "default_1.500s.wav").subtype == "PCM_16"
    # [1.5 - preroll, 3.0 + postroll): the pre-roll came from before the (late) start event
    assert len(first) == 44000 and np.allclose(first, x[8000:52000], atol=1 / 32768)
    side = json.loads((tmp_path / "default_1.500s.json").read_text())
    assert (side["start"], side["end"]) == (0.5, 3.25)
    assert [e["event"] for e in side["events"]] == ["cry_start", "cry_end"]
    # the second episode has no end event: the end of stream closes it
    last, _ = sf.read(tmp_path / "default_4.200s.wav", dtype="float32")
    assert np.allclose(last, x[51200:], atol=1 / 32768)


def test_wav_sink_cuts_at_max_duration_as_flac(tmp_path, cry_clip) -> None:
    from streamser.plugins.sinks.wav import WavParams, WavSink
    sink = WavSink(WavParams(dir=str(tmp_path), preroll=0.5, max_duration=1.0,
                             format="flac"), "rec")
    sink.start()
    x = read_mono(cry_clip)
    sink.process(event_frame("cry_start", 1.0, 1.0))  # before its audio: arrival order
    for i in range(0, len(x), 1600):
        sink.process(Frame("audio", x[i:i + 1600], t=i / 16000, meta={"sample_rate": 16000}))
    assert [p.name for p in sink.written] == ["default_1.000s.flac"]  # before end of stream
    sink.flush()
    sink.stop()
    y, _ = sf.read(tmp_path / "default_1.000s.flac", dtype="float32")
    assert np.allclose(y, x[8000:24000], atol=1 / 32768)


# streamser monitor ------------------------------------------------------------------

def test_monitor_shows_level_vad_scores_and_events() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    graph = build_graph({"name": "live", "nodes": {
        "src": {"plugin": "source.synth", "params": {
            "realtime": True, "duration": 20, "block": 1600, "level_db": -20}},
        "ann": {"plugin": "ionodes_helpers:Annotate", "input": "src"},
        "out": {"plugin": "sink.zmq", "input": "ann",
                "params": {"endpoint": endpoint, "wait": 20}}}})
    control = Control()
    publisher = threading.Thread(target=run, args=(graph, "threads", control))
    publisher.start()
    try:
        res = cli("monitor", endpoint, "--seconds", "1")
    finally:
        control.request_stop()
        publisher.join(5)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert f"streamser monitor {endpoint}" in out and "0 rejected" in out
    assert "default" in out and "-23.0" in out  # RMS of a -20 dBFS-peak sine
    assert "active" in out or "quiet" in out
    assert "cry 0.75" in out and "laugh 0.25" in out
    assert "recent events" in out and "cry_start" in out and '"score": 0.75' in out
    bad = cli("monitor", "localhost:5556", "--seconds", "0")
    assert bad.returncode == 2 and "must be tcp://" in bad.stderr
