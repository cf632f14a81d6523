"""CPU time of describe.cry per second of audio.

Usage::

    python benchmarks/describe_cost.py [--minutes 10] [--repeat 5] [--events EVENTS.jsonl
                                        --input STREAM.flac] [--json FILE]

Two cases, each in the inline executor (``cpu_s`` of the node: the thread CPU time of its
calls) divided by the seconds of audio; the median over ``--repeat`` runs:

- ``all cry``: 10 s of a quiet room, then real cries (babycry_esc, one after another)
  for ``--minutes``, all of it one cry with a ``cry_update`` every second: the worst
  case, every frame of it analysed;
- ``robot``: with ``--events`` and ``--input``, the robot's own events on that stream
  (say ``streamser run configs/cry_robot_home.yaml --input streams/test20.flac
  --events out/ev.jsonl``), replayed at their ``emitted_at``: frames are analysed only
  inside its cries.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from streamser.executors import run
from streamser.graph import build_graph

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def all_cry(minutes: float, folder: Path) -> tuple[Path, list[dict]]:
    """10 s of a quiet room, then real cries for ``minutes``, all one cry."""
    def clips(kind: str) -> np.ndarray:
        paths = sorted((folder / "babycry_esc" / kind).glob("*.flac"))
        return np.concatenate([sf.read(p, dtype="float32")[0] for p in paths])
    room = clips("silence")[:10 * 16000] * np.float32(10 ** (-25 / 20))
    n = round(minutes * 60 * 16000)
    cries = clips("crying")
    x = np.concatenate([room, np.tile(cries, n // len(cries) + 1)[:n]])
    path = Path(tempfile.mkdtemp()) / "cries.flac"
    sf.write(path, x, 16000)
    end = len(x) / 16000 - 0.6
    events = [{"event": "cry_start", "t": 10.0, "emitted_at": 10.5},
              *({"event": "cry_update", "t": t - 0.2, "emitted_at": t, "start": 10.0}
                for t in np.arange(11.0, end, 1.0)),
              {"event": "cry_end", "t": end, "emitted_at": end + 0.5, "start": 10.0}]
    return path, events


def cost(audio: Path, events: list[dict]) -> float:
    """ms of describe.cry CPU per second of audio, one run."""
    seconds = sf.info(audio).duration
    graph = build_graph({"name": "describe-cost", "nodes": {
        "mic": {"plugin": "source.file", "params": {"path": str(audio), "block": 4096}},
        "detect": {"plugin": "replay_events:Replay", "input": "mic",
                   "params": {"events": events}},
        "describe": {"plugin": "describe.cry", "input": ["mic", "detect"]},
        "out": {"plugin": "sink.jsonl", "input": "describe",
                "params": {"path": "/dev/null", "data": False}}}})
    metrics = run(graph, "inline")
    return 1000 * metrics["describe"]["cpu_s"] / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--events", type=Path)
    ap.add_argument("--input", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import sys
    sys.path.insert(0, str(Path(__file__).parent))  # replay_events, as a plugin path
    cases = {"all cry": all_cry(args.minutes, args.data)}
    if args.events and args.input:
        cases["robot"] = (args.input, [json.loads(x) for x in args.events.read_text()
                                       .splitlines()])
    out = {"machine": f"{platform.processor() or platform.machine()}, "
                      f"{platform.python_version()}", "ms_per_s": {}}
    for name, (audio, events) in cases.items():
        runs = [cost(audio, events) for _ in range(args.repeat)]
        out["ms_per_s"][name] = round(statistics.median(runs), 4)
        print(f"{name:8s} {statistics.median(runs):.3f} ms of CPU per second of audio "
              f"(median of {args.repeat}; min {min(runs):.3f}, max {max(runs):.3f})")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
