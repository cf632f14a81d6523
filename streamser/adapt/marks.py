"""False alarms marked by the user, cut from the robot's recording as negatives.

``--false-alarms`` is ``T1,T2,...`` (stream times of ``cry_start`` events) or ``@FILE``:
JSON lines ``{"t": T, "stream": ..., "marked_at": ...}`` as the robot's web page writes
them. ``--recording`` is one file that starts at stream time 0, a ``sink.wav`` episode
file (its ``.json`` sidecar says where it starts), or a folder of those. Each mark cuts
from half a second before its ``cry_start`` to half a second after the matching
``cry_end`` in ``--events`` (``DEFAULT_SPAN`` seconds without events).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .detector import AdaptError
from .rows import Clip, audio_files, read_clip

DEFAULT_SPAN, PAD = 5.0, 0.5


@dataclass(frozen=True)
class Mark:
    t: float
    stream: str | None = None


def parse_marks(text: str) -> list[Mark]:
    """``T1,T2`` or ``@FILE`` (JSON lines with ``t``)."""
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise AdaptError(f"--false-alarms {path}: {exc.strerror}") from None
        out = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                out.append(Mark(float(d["t"]), d.get("stream")))
            except (ValueError, KeyError, TypeError):
                raise AdaptError(f"{path}:{n}: not a false-alarm line "
                                 '({"t": SECONDS, "stream": ...})') from None
        return out
    try:
        return [Mark(float(x)) for x in text.split(",") if x.strip()]
    except ValueError:
        raise AdaptError(f"--false-alarms {text!r}: expected T1,T2,... (seconds) or "
                         "@FILE") from None


def _episodes(events: Path | None) -> list[dict]:
    if events is None:
        return []
    try:
        lines = events.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    except OSError as exc:
        raise AdaptError(f"--events {events}: {exc.strerror}") from None
    except ValueError:
        raise AdaptError(f"--events {events}: not JSON lines") from None


def span(mark: Mark, events: list[dict]) -> tuple[float, float]:
    """Stream times to cut for one mark."""
    if not events:
        return max(0.0, mark.t - PAD), mark.t + DEFAULT_SPAN
    starts = [e for e in events if e.get("event") == "cry_start"
              and abs(float(e["t"]) - mark.t) < 0.01
              and (mark.stream is None or e.get("stream") == mark.stream)]
    if not starts:
        raise AdaptError(f"no cry_start at t={mark.t:g} s in the events file")
    stream = starts[0].get("stream")
    ends = [float(e["t"]) for e in events if e.get("event") == "cry_end"
            and e.get("stream") == stream and abs(float(e.get("start", -1)) - mark.t) < 0.01]
    end = ends[0] if ends else mark.t + DEFAULT_SPAN
    return max(0.0, mark.t - PAD), end + PAD


def _recordings(recording: Path) -> list[tuple[Path, float]]:
    """(file, stream time of its first sample) of a recording file or folder."""
    out = []
    for f in audio_files([recording]):
        side = f.with_suffix(".json")
        start = 0.0
        if side.is_file():
            try:
                start = float(json.loads(side.read_text())["start"])
            except (ValueError, KeyError, TypeError):
                raise AdaptError(f"{side}: not a sink.wav sidecar") from None
        out.append((f, start))
    return out


def cut_marks(recording: Path, events: Path | None, marks: list[Mark]) -> list[Clip]:
    """One clip per mark, cut from the recording that holds it."""
    files = _recordings(recording)
    evs = _episodes(events)
    out = []
    for mark in marks:
        a, b = span(mark, evs)
        for path, start in files:
            clip = read_clip(path)
            end = start + clip.seconds
            if start <= mark.t < end:
                i, j = (round((max(a, start) - start) * clip.rate),
                        round((min(b, end) - start) * clip.rate))
                out.append(Clip(f"{path.name}@{mark.t:g}s",
                                np.ascontiguousarray(clip.audio[i:j]), clip.rate))
                break
        else:
            raise AdaptError(f"false alarm at t={mark.t:g} s is in no recording under "
                             f"{recording}")
    return out
