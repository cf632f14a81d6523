"""Audio input devices through pyaudio (PortAudio), imported only when a microphone is used.

pyaudio is the optional extra ``mic`` (``pip install 'streamser[mic]'``; it builds against
PortAudio: ``apt-get install portaudio19-dev`` on Debian/Ubuntu).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ALTERNATIVE = "use --input FILE or --input synth:NAME to run the graph without a microphone"
#: PortAudio's constants as pyaudio names them (paFloat32, paContinue, paInputOverflow),
#: so that a device layer other than pyaudio (a test's) needs no pyaudio.
PA_FLOAT32, PA_CONTINUE, PA_INPUT_OVERFLOW = 1, 0, 2


class AudioUnavailable(RuntimeError):
    """No pyaudio, or no input device to capture from. ``str()`` says what to do."""


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int  # max input channels
    default_rate: float


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence what ALSA and JACK print on standard error while PortAudio probes devices."""
    try:
        saved = os.dup(2)
    except OSError:  # no standard error to silence
        yield
        return
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def open_pyaudio() -> Any:
    """A ``pyaudio.PyAudio`` instance (call ``terminate()`` when done)."""
    try:
        import pyaudio
    except ImportError:
        raise AudioUnavailable(
            "pyaudio is not installed: pip install 'streamser[mic]' (it needs PortAudio: "
            f"apt-get install portaudio19-dev libportaudio2); or {ALTERNATIVE}") from None
    with _quiet_stderr():
        return pyaudio.PyAudio()


def _inputs(pa: Any) -> list[InputDevice]:
    found = []
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        if int(info["maxInputChannels"]) > 0:
            found.append(InputDevice(i, str(info["name"]), int(info["maxInputChannels"]),
                                     float(info["defaultSampleRate"])))
    return found


def input_devices() -> list[InputDevice]:
    """Every device that can capture audio."""
    pa = open_pyaudio()
    try:
        return _inputs(pa)
    finally:
        pa.terminate()


def find_input(pa: Any, device: int | str | None) -> InputDevice:
    """The input device by index, by case-insensitive name substring, or the default one."""
    devices = _inputs(pa)
    if not devices:
        raise AudioUnavailable(f"no audio input device found; {ALTERNATIVE}")
    if device is None:
        try:
            default = int(pa.get_default_input_device_info()["index"])
        except OSError:  # PortAudio has no default input: take the first one
            return devices[0]
        return next((d for d in devices if d.index == default), devices[0])
    if isinstance(device, int):
        match = [d for d in devices if d.index == device]
    else:
        match = [d for d in devices if device.lower() in d.name.lower()]
    if not match:
        names = ", ".join(f"{d.index}: {d.name}" for d in devices)
        raise AudioUnavailable(f"no audio input device matches {device!r} (inputs: {names}; "
                               f"'streamser devices' lists them); or {ALTERNATIVE}")
    return match[0]
