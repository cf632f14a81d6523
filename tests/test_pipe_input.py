"""Audio from a pipe (``--input -``): a WAV stream or raw PCM (``--input-format``) on
standard input gives exactly the events of a run on the same samples in a file; arecord
and ffmpeg feed it as documented; empty and malformed input fail in one line."""
from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT, data_file, free_port

from streamser.pcm import PcmFormat, PcmReader

CONFIG = str(ROOT / "configs" / "cry_robot.yaml")


@pytest.fixture(scope="module")
def speech_cries(tmp_path_factory) -> Path:
    """12 s of real audio at 16 kHz, 16-bit: speech (emodb), then two cries (ESC-50)."""
    from streamser.train.clips import load_audio
    speech = load_audio(data_file("emodb/03a01Nc.flac"), 16000)
    cry = load_audio(data_file("babycry_esc/crying/1-211527-A.flac"), 16000)
    path = tmp_path_factory.mktemp("pipe") / "speech_cries.wav"
    sf.write(path, np.concatenate([speech, cry, cry])[:12 * 16000], 16000, subtype="PCM_16")
    return path


def robot(*args: str, stdin: bytes | None = None, shell: str | None = None,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``streamser run configs/cry_robot.yaml ARGS`` (after ``SHELL |`` when given)."""
    cmd = [sys.executable, "-m", "streamser", "run", CONFIG, *args, "-q",
           "--set", f"publish.endpoint=tcp://127.0.0.1:{free_port()}"]
    if shell is not None:
        line = f"{shell} | {' '.join(map(_quote, cmd))}"
        return subprocess.run(["bash", "-o", "pipefail", "-c", line], capture_output=True,
                              text=True, timeout=180, env={**os.environ, **(env or {})})
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=180)


def _quote(word: str) -> str:
    import shlex
    return shlex.quote(word)


def file_events(path: Path, tmp_path: Path) -> bytes:
    out = tmp_path / f"{path.stem}.file.jsonl"
    res = robot("--input", str(path), "--events", str(out))
    assert res.returncode == 0, res.stderr
    assert out.read_bytes(), "the file run gave no events: the comparison would be empty"
    return out.read_bytes()


@pytest.mark.parametrize("executor", ["inline", "processes"])
def test_wav_on_stdin_gives_the_events_of_the_file(speech_cries, tmp_path, executor) -> None:
    out = tmp_path / "pipe.jsonl"
    res = robot("--input", "-", "--events", str(out), "-x", executor,
                stdin=speech_cries.read_bytes())
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == file_events(speech_cries, tmp_path)


def test_raw_pcm_with_input_format(speech_cries, tmp_path) -> None:
    pcm = sf.read(speech_cries, dtype="int16")[0].astype("<i2").tobytes()
    out = tmp_path / "raw.jsonl"
    res = robot("--input", "-", "--input-format", "s16le:16000:1", "--events", str(out),
                stdin=pcm)
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == file_events(speech_cries, tmp_path)
    # a raw file on disk reads the same way
    raw = tmp_path / "x.raw"
    raw.write_bytes(pcm)
    res = robot("--input", str(raw), "--input-format", "s16le:16000:1", "--events",
                str(tmp_path / "rawfile.jsonl"))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "rawfile.jsonl").read_bytes() == out.read_bytes()


def test_arecord_pipe(speech_cries, tmp_path) -> None:
    """``arecord -f S16_LE -r 16000 -c 1 | streamser run configs/cry_robot.yaml --input -``,
    the sound card being an ALSA device that "captures" the real recording (ALSA's file
    plugin), so that the events can be compared with a file run."""
    if shutil.which("arecord") is None:
        pytest.skip("arecord not installed (Debian: apt-get install alsa-utils)")
    raw = tmp_path / "card.raw"
    samples = sf.read(speech_cries, dtype="int16")[0]
    raw.write_bytes(samples.astype("<i2").tobytes())
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(
        'pcm.!default { type plug; slave.pcm "card" }\n'
        f'pcm.card {{ type file; slave.pcm "null"; file "/dev/null"; infile "{raw}"; '
        'format "raw" }\n')
    out = tmp_path / "arecord.jsonl"
    res = robot("--input", "-", "--events", str(out),
                shell=f"arecord -q -f S16_LE -r 16000 -c 1 -s {len(samples)}",
                env={"HOME": str(home)})
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == file_events(speech_cries, tmp_path)


def test_ffmpeg_pipe_from_m4a(speech_cries, tmp_path) -> None:
    """``ffmpeg -i x.m4a -f wav - | streamser run ...``: the events of the decoded audio."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed (Debian: apt-get install ffmpeg)")
    m4a, decoded = tmp_path / "x.m4a", tmp_path / "decoded.wav"
    for cmd in (["-i", str(speech_cries), "-c:a", "aac", str(m4a)],
                ["-i", str(m4a), str(decoded)]):
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *cmd], check=True, timeout=60)
    out = tmp_path / "ffmpeg.jsonl"
    res = robot("--input", "-", "--events", str(out),
                shell=f"ffmpeg -loglevel error -i {m4a} -f wav -")
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == file_events(decoded, tmp_path)


@pytest.mark.parametrize("stdin,message", [
    (b"", "standard input is empty: no audio arrived"),
    (b"ID3 this is an mp3, not a wav" * 10, "standard input is not a WAV stream (for raw "
     "PCM give --input-format"),
    (b"RIFF\xff\xff\xff\xffWAVEfmt ", "the stream ended inside the WAV chunk header")])
def test_bad_standard_input_is_one_line(stdin: bytes, message: str) -> None:
    res = robot("--input", "-", stdin=stdin)
    err = res.stderr.decode()
    assert res.returncode == 1 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_empty_file_and_bad_format_are_named(tmp_path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    res = robot("--input", str(empty))
    assert res.returncode == 2
    assert f"--input {empty}: empty file (0 bytes)" in res.stderr.decode()
    res = robot("--input", "-", "--input-format", "s16:16000:1", stdin=b"")
    assert res.returncode == 2 and "is not FORMAT:RATE:CHANNELS" in res.stderr.decode()


def _pipe(data: bytes) -> int:
    """A pipe's read end, written to from a thread (a stream that cannot seek)."""
    r, w = os.pipe()

    def write() -> None:
        os.write(w, data)
        os.close(w)
    threading.Thread(target=write, daemon=True).start()
    return r


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT",
                                     "DOUBLE"])
def test_wav_stream_reads_as_soundfile_reads_the_file(subtype: str) -> None:
    x, rate = sf.read(data_file("emodb/03a01Wa.flac"), dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, np.stack([x, x[::-1]], axis=1), rate, format="WAV", subtype=subtype)
    data = buf.getvalue()
    want = sf.read(io.BytesIO(data), dtype="float32")[0].mean(axis=1, dtype=np.float32)
    fd = _pipe(data)
    try:
        reader = PcmReader(fd)
        got = np.concatenate(list(reader.blocks(1000)))
    finally:
        os.close(fd)
    assert reader.fmt is not None and (reader.fmt.rate, reader.fmt.channels) == (rate, 2)
    np.testing.assert_array_equal(got, want)


def test_wav_stream_with_unknown_length_reads_to_the_end() -> None:
    """A writer that cannot seek (arecord, ffmpeg into a pipe) leaves a placeholder size."""
    x = sf.read(data_file("emodb/03a01Wa.flac"), dtype="int16")[0]
    buf = io.BytesIO()
    sf.write(buf, x, 22050, format="WAV", subtype="PCM_16")
    data = bytearray(buf.getvalue())
    at = data.index(b"data")
    data[at + 4:at + 8] = struct.pack("<I", 0xFFFFFFFF)
    fd = _pipe(bytes(data))
    try:
        got = np.concatenate(list(PcmReader(fd).blocks(4096)))
    finally:
        os.close(fd)
    np.testing.assert_array_equal(got, x.astype(np.float32) / 32768)


def test_pcm_format_parse() -> None:
    assert PcmFormat.parse("s16le:16000:1") == PcmFormat("s16le", 16000, 1)
    assert PcmFormat.parse("f32le:48000:2").frame_bytes == 8
    for bad in ("s16le:16000", "wav:16000:1", "s16le:fast:1", "s16le:16000:0"):
        with pytest.raises(ValueError):
            PcmFormat.parse(bad)
