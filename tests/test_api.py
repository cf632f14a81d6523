"""The Python API (``streamser.open``): pushed audio gives exactly the events of a file
run of the same samples, whatever the block size, sample format, channel count or stream
id, in the inline and threads executors; ``run`` iterates a file's events in every
executor; processes refuses pushed audio in one line; graphs as dicts, with classes of
the user's script; callbacks; errors that say what is wrong."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA, ROOT, cli, data_file, free_port

import streamser
from streamser.graph import GraphError

ROBOT = str(ROOT / "configs" / "cry_robot.yaml")


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> Path:
    """A minute of real recordings strung together by ``streamser mkstream`` (cries among
    speech, laughter, noise), 16 kHz, 16-bit."""
    manifests = sorted(str(p) for p in DATA.glob("*/manifest.csv"))
    if not manifests:
        pytest.skip(f"real audio not found at {DATA} (set STREAMSER_DATA)")
    out = tmp_path_factory.mktemp("api") / "real.wav"
    res = cli("mkstream", *manifests, "--minutes", "1", "--test-k", "5", "--seed", "3",
              "--out", str(out), timeout=120)
    assert res.returncode == 0, res.stderr
    return out


def file_run(path: Path, *args: str) -> list[dict]:
    """The events ``streamser run configs/cry_robot.yaml --input PATH`` writes."""
    events = path.with_suffix(".events.jsonl")
    res = cli("run", ROBOT, "--input", str(path), "--events", str(events), "-q", *args,
              "--set", f"publish.endpoint=tcp://127.0.0.1:{free_port()}", timeout=120)
    assert res.returncode == 0, res.stderr
    out = [json.loads(line) for line in events.read_text().splitlines()]
    assert out, "the file run gave no events: nothing to compare"
    return out


def push_all(samples: np.ndarray, rate: int, block: int, executor: str = "inline",
             **options) -> tuple[list[dict], list[int]]:
    """Every event of pushing ``samples`` in blocks of ``block``, then closing; and how
    many came back from each call."""
    robot = streamser.open(ROBOT, executor=executor, **options)
    events, counts = [], []
    for i in range(0, len(samples), block):
        got = robot.push(samples[i:i + block], sample_rate=rate)
        events += got
        counts.append(len(got))
    last = robot.close()
    return events + last, counts + [len(last)]


@pytest.mark.parametrize("executor", ["inline", "threads"])
@pytest.mark.parametrize("block", [160, 4096, 7777, 48000])
def test_pushed_audio_gives_the_events_of_a_file_run(stream, executor, block) -> None:
    want = file_run(stream)
    samples, rate = sf.read(stream, dtype="int16")
    got, counts = push_all(samples, rate, block, executor)
    assert got == want
    if executor == "inline":       # each push returns what its audio produced, at once
        assert sum(counts[:-1]) >= len(want) - 1 and counts[-1] <= 1


def test_float_stereo_and_48_khz_pushes_match_their_files(stream, tmp_path) -> None:
    """float32 samples, two channels (averaged as source.file does) and a 48 kHz rate
    (the graph resamples) give the events of the same samples in a file."""
    import soxr
    mono, rate = sf.read(stream, dtype="float32")
    other = np.roll(mono, 8000)
    stereo = np.stack([mono, other], axis=1)
    wav = tmp_path / "stereo.wav"
    sf.write(wav, stereo, rate, subtype="FLOAT")
    assert push_all(stereo, rate, 3000)[0] == file_run(wav)
    high = soxr.resample(mono[:30 * rate], rate, 48000).astype(np.float32)
    wav48 = tmp_path / "48k.wav"
    sf.write(wav48, high, 48000, subtype="FLOAT")
    assert push_all(high, 48000, 4800)[0] == file_run(wav48)


def test_one_pipeline_serves_many_streams(stream, tmp_path) -> None:
    """Two robots' audio interleaved, each under its own stream id: each stream's events
    are its file run's (with its id)."""
    a, rate = sf.read(stream, dtype="int16")
    b = sf.read(data_file("babycry_esc/crying/1-211527-A.flac"), dtype="int16")[0]
    b = np.concatenate([b, np.zeros(rate, np.int16), b])
    sf.write(tmp_path / "b.wav", b, rate, subtype="PCM_16")
    robot = streamser.open(ROBOT)
    events: list[dict] = []
    for k in range(max(len(a) // 2000, len(b) // 1500) + 1):   # different block sizes
        events += robot.push(a[k * 2000:(k + 1) * 2000], rate, stream="robot-1")
        events += robot.push(b[k * 1500:(k + 1) * 1500], rate, stream="robot-2")
    events += robot.close()
    for name, path in (("robot-1", stream), ("robot-2", tmp_path / "b.wav")):
        want = [{**e, "stream": name} for e in file_run(path)]
        assert [e for e in events if e["stream"] == name] == want


def test_run_iterates_a_files_events_in_every_executor(stream) -> None:
    want = file_run(stream)
    for executor in ("inline", "threads", "processes"):
        assert list(streamser.open(ROBOT, executor=executor).run(stream)) == want, executor
    # the synthetic scene's imitations are not cries to the robot: a synth input runs to
    # its end and gives no cry (tests/test_cry_robot.py)
    scene = list(streamser.open(ROBOT).run("synth:cry_scene"))
    assert {e["event"] for e in scene} <= {"cry_start", "cry_end"}


def test_set_overrides_and_callbacks(stream) -> None:
    want = file_run(stream, "--set", "smooth.on_threshold=0.95", "--set",
                    "smooth.min_off=3")
    seen: list[dict] = []
    got = list(streamser.open(ROBOT, set={"smooth.on_threshold": 0.95, "smooth.min_off": 3},
                              on_event=seen.append).run(stream))
    assert got == want and seen == want
    samples, rate = sf.read(stream, dtype="int16")
    for executor in ("inline", "threads"):
        seen.clear()
        robot = streamser.open(ROBOT, set=["smooth.on_threshold=0.95", "smooth.min_off=3"],
                               executor=executor, on_event=seen.append)
        for i in range(0, len(samples), 16000):
            robot.push(samples[i:i + 16000], rate)
        robot.close()
        assert seen == want, executor


def test_processes_refuses_pushed_audio_in_one_line() -> None:
    robot = streamser.open(ROBOT, executor="processes")
    with pytest.raises(RuntimeError) as err:
        robot.push(np.zeros(1600, np.int16), 16000)
    message = str(err.value)
    assert "\n" not in message and "push() needs executor 'inline' or 'threads'" in message
    assert "--input -" in message


def test_dict_graph_with_a_class_of_the_users_script(tmp_path, cry_clip) -> None:
    """A Node class defined in the script (``__main__``) works as a plugin inline and
    under threads; processes says where to put it."""
    script = tmp_path / "mine.py"
    script.write_text(textwrap.dedent(f'''\
        import sys
        import numpy as np, soundfile as sf
        import streamser
        from streamser.frames import Frame
        from streamser.node import Node

        class Loudest(Node):
            """One event per block: its peak."""
            inputs = ("audio",)
            outputs = ("event",)

            def process(self, frame: Frame) -> list[Frame]:
                return [frame.derive(np.zeros(0, np.float32), kind="event", **{{
                    "event": "peak", "stream": frame.stream, "t": frame.t,
                    "emitted_at": frame.t, "peak": float(abs(frame.data).max())}})]

        graph = {{"nodes": {{"src": {{"plugin": "source.file", "params": {{
                     "path": {str(cry_clip)!r}, "block": 16000}}}},
                  "peak": {{"plugin": Loudest, "input": "src"}}}}}}
        x, rate = sf.read({str(cry_clip)!r}, dtype="float32")
        for executor in ("inline", "threads"):
            robot = streamser.open(graph, executor=executor)
            events = robot.push(x, rate) + robot.close()
            assert [e["peak"] for e in events] == [
                float(abs(x[i:i + 16000]).max()) for i in range(0, len(x), 16000)]
            assert events == list(streamser.open(graph, executor=executor).run({str(cry_clip)!r}))
        try:
            streamser.open(graph, executor="processes")
        except ValueError as exc:
            print(exc)
        '''))
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == (
        "node 'peak': Loudest is defined in the script being run, which the processes "
        "executor's children cannot import: move it into a module (say nodes.py beside "
        "your script) and use plugin 'nodes:Loudest', or use executor 'inline' or 'threads'")


def test_errors_say_what_is_wrong(cry_clip) -> None:
    with pytest.raises(GraphError, match="unknown plugin 'infr'"):
        streamser.open({"nodes": {"src": {"plugin": "source.synth"},
                                  "x": {"plugin": "infr", "input": "src"}}})
    with pytest.raises(GraphError, match="exactly one source"):
        streamser.open({"nodes": {"a": {"plugin": "source.synth"},
                                  "b": {"plugin": "source.synth"}}})
    with pytest.raises(ValueError, match="unknown executor"):
        streamser.open(ROBOT, executor="fibers")
    x, rate = sf.read(cry_clip, dtype="int16")
    robot = streamser.open(ROBOT)
    robot.push(x[:4000], rate)
    with pytest.raises(ValueError, match="takes 16000 Hz audio .*got 48000 Hz"):
        robot.push(x[:4000], 48000)
    with pytest.raises(ValueError, match=r"\(samples,\) or \(samples, channels\)"):
        robot.push(np.zeros((2, 2, 2), np.int16), rate)
    with pytest.raises(ValueError, match="int8, int16, int32, uint8 or float"):
        robot.push(np.zeros(10, np.int64), rate)
    assert robot.close() == robot.close() == []
    with pytest.raises(RuntimeError, match="closed"):
        robot.push(x, rate)
    no_resample = {"nodes": {
        "src": {"plugin": "source.synth"},
        "mel": {"plugin": "features.logmel", "input": "src"},
        "patch": {"plugin": "window.patch", "input": "mel"},
        "detect": {"plugin": "infer", "input": "patch", "params": {"model": "cry-detector"}},
        "smooth": {"plugin": "smooth.hysteresis", "input": "detect",
                   "params": {"label": "cry"}}}}
    with pytest.raises(GraphError, match="needs 16000 Hz audio, gets 48000 Hz"):
        streamser.open(no_resample).push(np.zeros(4800, np.float32), 48000)


def test_a_failing_node_raises_node_failed(cry_clip, tmp_path) -> None:
    graph = {"nodes": {"src": {"plugin": "source.synth"},
                       "boom": {"plugin": "testnodes:Boom", "input": "src"},
                       "out": {"plugin": "sink.npy", "input": "boom",
                               "params": {"path": str(tmp_path / "o.npy")}}}}
    x = sf.read(cry_clip, dtype="float32")[0]
    for executor in ("inline", "threads"):
        robot = streamser.open(graph, executor=executor, sinks=True)
        with pytest.raises(streamser.NodeFailed, match="node 'boom' failed: ValueError: boom"):
            for i in range(0, len(x), 1024):
                robot.push(x[i:i + 1024], 16000)
            robot.close()
        robot.close()


def test_the_api_imports_neither_torch_nor_matplotlib() -> None:
    cry = data_file("babycry_esc/crying/1-211527-A.flac")     # a cry the robot finds
    code = textwrap.dedent(f"""\
        import sys, soundfile as sf, streamser
        x, rate = sf.read({str(cry)!r}, dtype="int16")
        robot = streamser.open({ROBOT!r})
        assert robot.push(x, rate) + robot.close()
        print(sorted(m for m in ("torch", "matplotlib", "tensorflow") if m in sys.modules))
        """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
