"""Built-in nodes on real and generated audio."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from streamser.executors import run
from streamser.graph import GraphError, build_graph


def collect(src: dict, tmp_path, **sink: object) -> np.ndarray:
    out = tmp_path / "o.npy"
    run(build_graph({"name": "t", "nodes": {
        "src": src, "out": {"plugin": "sink.npy", "input": "src",
                            "params": {"path": str(out), **sink}}}}))
    return np.load(out)


def test_file_source_makes_any_channel_count_mono_float32(tmp_path, cry_clip) -> None:
    x, rate = sf.read(cry_clip, dtype="float32")
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([x, np.zeros_like(x)], axis=1), rate, subtype="FLOAT")
    y = collect({"plugin": "source.file", "params": {"path": str(stereo), "block": 333}},
                tmp_path)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.array_equal(y, np.mean(np.stack([x, np.zeros_like(x)], 1), 1, dtype=np.float32))


def test_file_source_duration_and_stream_times(tmp_path, phone_clip) -> None:
    from streamser.plugins.sources.file import FileParams, FileSource
    src = FileSource(FileParams(path=str(phone_clip), block=800, duration=1.0))
    src.start()
    frames = list(src.frames())
    src.stop()
    assert sum(len(f.data) for f in frames) == 8000  # 1 s at 8 kHz
    assert [f.t for f in frames] == [i * 800 / 8000 for i in range(10)]  # sample-exact
    assert all(f.meta["sample_rate"] == 8000 for f in frames)


def test_file_source_offset_starts_inside_the_file(tmp_path, phone_clip) -> None:
    """``offset`` skips into the file (same samples as reading from the start and
    cutting); stream time starts at 0; an offset past the end is a clear error."""
    import soundfile as sf
    from streamser.plugins.sources.file import FileParams, FileSource
    src = FileSource(FileParams(path=str(phone_clip), block=800, offset=0.5, duration=1.0))
    src.start()
    frames = list(src.frames())
    length = src.length()
    src.stop()
    audio, _ = sf.read(phone_clip, dtype="float32", always_2d=True)
    got = np.concatenate([f.data for f in frames])
    assert np.array_equal(got, audio[4000:12000, 0]) and length == 1.0
    assert frames[0].t == 0.0
    late = FileSource(FileParams(path=str(phone_clip), offset=1e4))
    with pytest.raises(RuntimeError, match="past its end"):
        late.start()


def test_file_source_missing_file_is_a_param_error(tmp_path) -> None:
    with pytest.raises(GraphError, match="params.path: .*no such file"):
        build_graph({"nodes": {"s": {"plugin": "source.file",
                                     "params": {"path": str(tmp_path / "nope.wav")}}}})


def test_synth_duration_level_and_determinism(tmp_path) -> None:
    sine = collect({"plugin": "source.synth", "params": {
        "signal": "sine", "freq": 1000, "level_db": -6, "duration": 0.3, "block": 512}},
        tmp_path)
    assert len(sine) == 4800
    assert abs(np.max(np.abs(sine)) - 10 ** (-6 / 20)) < 1e-3
    spectrum = np.abs(np.fft.rfft(sine))
    assert np.argmax(spectrum) * 16000 / len(sine) == pytest.approx(1000, abs=4)
    noise = [collect({"plugin": "source.synth", "params": {
        "signal": "noise", "duration": 0.5, "level_db": -20}}, tmp_path) for _ in range(2)]
    assert np.array_equal(noise[0], noise[1])
    assert 20 * np.log10(np.sqrt(np.mean(noise[0] ** 2))) == pytest.approx(-20, abs=0.3)


def test_npy_stack_mode(tmp_path) -> None:
    y = collect({"plugin": "source.synth", "params": {"duration": 0.5, "block": 1000}},
                tmp_path, mode="stack")
    assert y.shape == (8, 1000)
