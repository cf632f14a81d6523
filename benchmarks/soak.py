"""A soak: the robot over many hours of audio at full speed, and an hour paced in real
time, checking that nothing grows and nothing drifts.

Usage::

    python benchmarks/soak.py --input streams/test20.flac [--config configs/cry_robot.yaml]
                              [--hours 12] [--paced-hours 1] [--json FILE]

The input (a real test stream; ``streamser mkstream``), cut to a whole number of
0.96 s (so that each copy meets the same framing), is looped, with stream time running
on, for ``--hours`` at full speed and then ``--paced-hours`` released in real
time (the graph's microphone replaced by a looping file source; console and ZeroMQ
publisher left out, the other sinks write to a temporary folder). The graph runs in this
process (inline executor) while the main thread samples, every ``--sample`` seconds, the
process's resident memory, open files and threads. It reports:

- memory, open files and threads: their first sample after warm-up (10 % of the run)
  and their last, and the fitted growth per hour of audio over the samples after it;
- events against a short run of one copy of the input: each copy of the long run,
  moved back by its offset, compared with the short run's events (``emitted_at`` in
  the copy's middle, leaving ``--margin`` seconds at each end, where the state carried
  from the copy before may differ); identical copies mean no drift of ``emitted_at``
  and no change of behaviour with time;
- paced: the lag of each scores frame behind the wall clock (when it reached the end of
  the graph minus when its audio's last sample was due), first 5 minutes against the
  last 5 minutes, and its fitted drift per hour.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from pydantic import Field

from streamser.executors import Control, run
from streamser.frames import Frame
from streamser.graph import build_graph, load_graph
from streamser.node import Node, Params, Source

#: (monotonic wall time, stream upto) of every scores frame of a paced run
LAGS: list[tuple[float, float]] = []


#: A loop is a whole number of these seconds, so that every copy of the input meets the
#: same framing (the robot's patches hop 0.48 s; 0.96 s holds whole frames of every node).
LOOP_UNIT_S = 0.96


def loop_samples(n: int, rate: int) -> int:
    unit = round(LOOP_UNIT_S * rate)
    return n - n % unit


class LoopParams(Params):
    path: str = Field(description="Audio file, looped.")
    seconds: float = Field(gt=0, description="Seconds of stream to produce.")
    block: int = Field(4096, ge=16)
    realtime: bool = Field(False, description="Release frames at their stream time.")


class LoopSource(Source):
    """A file played over and over as one stream (time runs on across the loops)."""

    Params = LoopParams
    outputs = ("audio",)
    params: LoopParams

    def start(self) -> None:
        x, self.rate = sf.read(self.params.path, dtype="float32", always_2d=True)
        self.audio = x.mean(axis=1, dtype=np.float32)[:loop_samples(len(x), self.rate)]
        self._closed = threading.Event()

    def frames(self) -> Iterator[Frame]:
        total = round(self.params.seconds * self.rate)
        n, block, pos, seq = len(self.audio), self.params.block, 0, 0
        while pos < total and not self._closed.is_set():
            k = pos % n
            x = self.audio[k:min(n, k + block, k + total - pos)]
            yield Frame("audio", x, t=pos / self.rate, seq=seq,
                        meta={"sample_rate": self.rate})
            pos, seq = pos + len(x), seq + 1

    def length(self) -> float:
        return self.params.seconds

    def close(self) -> None:
        self._closed.set()


class Lag(Node):
    """Note when (wall clock) each scores frame arrives, with its stream ``upto``."""

    inputs = ("scores",)

    def process(self, frame: Frame) -> tuple[()]:
        LAGS.append((time.monotonic(), float(frame.meta.get("upto", frame.t))))
        return ()


def soak_graph(config: Path, audio: Path, seconds: float, out: Path, realtime: bool
               ) -> Any:
    """The robot with a looping source, its files in ``out``, no console or publisher."""
    raw = load_graph(config, events=str(out / "events.jsonl")).raw
    nodes = raw["nodes"]
    source = next(n for n, b in nodes.items() if not b.get("input"))
    nodes[source] = {"plugin": "soak:LoopSource", "params": {
        "path": str(audio), "seconds": seconds, "realtime": realtime}}
    for name in [n for n, b in nodes.items() if b.get("plugin") in ("sink.console",
                                                                       "sink.zmq")]:
        del nodes[name]
    for name, body in nodes.items():
        params = body.get("params") or {}
        if body.get("plugin") == "sink.jsonl":
            params["path"] = str(out / f"{name}.jsonl")
    if realtime and "detect" in nodes:
        nodes["lag"] = {"plugin": "soak:Lag", "input": "detect"}
    return build_graph(raw, file=str(config))


def process_sample() -> dict[str, float]:
    status = Path("/proc/self/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return {"rss_mb": rss / 1024, "fds": len(os.listdir("/proc/self/fd")),
            "threads": len(os.listdir("/proc/self/task"))}


def run_sampled(graph: Any, every: float) -> tuple[list[dict[str, float]], float]:
    """Run ``graph`` in a thread; samples (with the stream position) every ``every`` s."""
    control, samples, error = Control(), [], []

    def target() -> None:
        try:
            run(graph, "inline", control)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            error.append(exc)
    thread = threading.Thread(target=target)
    t0 = time.monotonic()
    thread.start()
    while thread.is_alive():
        thread.join(every)
        if thread.is_alive():  # a sample of the running graph, not of its teardown
            position = max(control.position.values(), default=0.0)
            samples.append({"wall_s": time.monotonic() - t0, "audio_s": position,
                            **process_sample()})
    if error:
        raise error[0]
    return samples, time.monotonic() - t0


def flatness(samples: list[dict[str, float]], key: str) -> dict[str, float]:
    """First sample after warm-up, last, and the fitted growth per hour of audio."""
    after = [s for s in samples if s["audio_s"] >= 0.1 * samples[-1]["audio_s"]]
    x = np.array([s["audio_s"] / 3600 for s in after])
    y = np.array([s[key] for s in after])
    slope = float(np.polyfit(x, y, 1)[0]) if len(after) >= 3 and np.ptp(x) > 0 else 0.0
    return {"after_warmup": round(float(y[0]), 1), "last": round(float(y[-1]), 1),
            "max": round(float(y.max()), 1), "growth_per_hour": round(slope, 3)}


def events_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def shifted(event: dict[str, Any], offset: float) -> dict[str, Any]:
    """The event with its stream times moved back by ``offset`` (ms rounding, as written)."""
    return {k: round(v - offset, 3) if k in ("t", "emitted_at", "start") and
            isinstance(v, (int, float)) else v for k, v in event.items()}


def compare(long: list[dict], short: list[dict], length: float, margin: float
            ) -> dict[str, Any]:
    """Each whole copy of the long run against the short run, inside the margins."""
    def inside(events: list[dict], lo: float, hi: float) -> list[dict]:
        return [e for e in events if lo + margin <= e["emitted_at"] < hi - margin]
    reference = inside(short, 0.0, length)
    copies = int(max((e["emitted_at"] for e in long), default=0.0) // length)
    same, first_diff = 0, None
    for k in range(copies):
        got = [shifted(e, k * length) for e in inside(long, k * length, (k + 1) * length)]
        if got == reference:
            same += 1
        elif first_diff is None:              # the first event that differs, both sides
            i = next((i for i, (a, b) in enumerate(zip(reference, got)) if a != b),
                     min(len(reference), len(got)))
            first_diff = {"copy": k, "event": i, "short": reference[i:i + 1],
                          "long": got[i:i + 1], "count": [len(reference), len(got)]}
    return {"copies": copies, "identical": same, "events_per_copy": len(reference),
            "first_difference": first_diff}


def lag_report() -> dict[str, float]:
    """Lag of scores frames behind the wall clock: first/last 5 minutes, drift per hour."""
    wall = np.array([w for w, _ in LAGS])
    upto = np.array([u for _, u in LAGS])
    lag = (wall - wall[0]) - (upto - upto[0])  # relative to the first frame's
    first, last = upto < upto[0] + 300, upto > upto[-1] - 300
    drift = float(np.polyfit(upto / 3600, lag, 1)[0]) if len(lag) > 2 else 0.0
    return {"frames": len(lag), "lag_first_5min_ms": round(1000 * float(lag[first].mean()), 1),
            "lag_last_5min_ms": round(1000 * float(lag[last].mean()), 1),
            "lag_max_ms": round(1000 * float(lag.max()), 1),
            "drift_ms_per_hour": round(1000 * drift, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, required=True, help="a real test stream")
    ap.add_argument("--config", type=Path, default=Path("configs/cry_robot.yaml"))
    ap.add_argument("--hours", type=float, default=12.0, help="full-speed hours")
    ap.add_argument("--paced-hours", type=float, default=1.0, help="real-time hours (0: none)")
    ap.add_argument("--sample", type=float, default=5.0, help="wall seconds between samples")
    ap.add_argument("--margin", type=float, default=30.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sys.modules.setdefault("soak", sys.modules[__name__])  # its nodes, as soak:LoopSource
    info = sf.info(args.input)
    length = loop_samples(info.frames, info.samplerate) / info.samplerate
    report: dict[str, Any] = {"input": str(args.input), "input_s": round(length, 3),
                              "config": str(args.config)}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"short": (length, False)}
        if args.hours > 0:
            runs["full_speed"] = (args.hours * 3600, False)
        if args.paced_hours > 0:
            runs["paced"] = (args.paced_hours * 3600, True)
        events: dict[str, list[dict]] = {}
        for name, (seconds, realtime) in runs.items():
            out = Path(tmp) / name
            out.mkdir()
            samples, wall = run_sampled(soak_graph(args.config, args.input, seconds, out,
                                                   realtime), args.sample)
            events[name] = events_of(out / "events.jsonl")
            if name == "short":
                continue
            report[name] = {
                "audio_h": round(seconds / 3600, 3), "wall_s": round(wall, 1),
                "memory_mb": flatness(samples, "rss_mb"), "open_files": flatness(samples, "fds"),
                "threads": flatness(samples, "threads"),
                "events": compare(events[name], events["short"], length, args.margin)}
            if realtime:
                report[name]["lag"] = lag_report()
            print(json.dumps({name: report[name]}, indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
