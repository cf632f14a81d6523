"""How many robots' streams can one machine serve? CPU cost of N streams in one graph.

Usage::

    python benchmarks/robot_streams.py --input streams/test20.flac [--streams 1,8,32]
                                       [--seconds 60] [--json FILE]

Builds ``configs/cry_robot.yaml`` with its microphone replaced by N ``source.file`` nodes
(stream ids ``robot-0`` ..., each the first ``--seconds`` of the input) that all feed the
same nodes: every node keeps its state per stream, so one ``infer`` node serves all N.
The console sink is dropped. Each N runs once, as fast as possible, with the inline
executor (one core); the table shows CPU seconds per second of audio per stream and the
streams one core would carry in real time at that cost (1 / that figure), in one run.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

from streamser.executors import run
from streamser.graph import load_graph

ROOT = Path(__file__).resolve().parents[1]


def graph_yaml(n: int, audio: Path, seconds: float, out: Path) -> Path:
    spec = yaml.safe_load((ROOT / "configs" / "cry_robot.yaml").read_text())
    nodes = spec["nodes"]
    del nodes["mic"], nodes["console"]
    sources = {f"src{i}": {"plugin": "source.file",
                           "params": {"path": str(audio), "duration": seconds,
                                      "stream": f"robot-{i}", "block": 4096}}
               for i in range(n)}
    nodes["resample"]["input"] = list(sources) if n > 1 else "src0"
    nodes["events"]["params"]["path"] = str(out / "events.jsonl")
    nodes["scores"]["params"]["path"] = str(out / "scores.jsonl")
    spec["nodes"] = {**sources, **nodes}
    path = out / f"robots{n}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--streams", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(x) for x in args.streams.split(",")]:
            graph = load_graph(graph_yaml(n, Path(args.input), args.seconds, Path(tmp)))
            t0, c0 = time.perf_counter(), time.process_time()
            metrics = run(graph, "inline")
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
            node_cpu = sum(m.get("cpu_s", 0.0) for m in metrics.values())
            per_stream = node_cpu / (n * args.seconds)
            events = sum(1 for _ in open(Path(tmp) / "events.jsonl"))
            rows.append({"streams": n, "audio_s_per_stream": args.seconds,
                         "node_cpu_s": node_cpu, "process_cpu_s": cpu, "wall_s": wall,
                         "cpu_per_audio_s_per_stream": per_stream,
                         "streams_per_core": 1 / per_stream, "events": events})
    print(f"{args.input}: first {args.seconds:g} s per stream, inline executor, one run\n")
    print("| streams | node CPU s | ms CPU per s of audio per stream | real-time streams "
          "per core | events |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['streams']} | {r['node_cpu_s']:.2f} | "
              f"{1e3 * r['cpu_per_audio_s_per_stream']:.2f} | {r['streams_per_core']:.0f} | "
              f"{r['events']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
