"""How many robots' streams can one machine serve? CPU cost of N streams in one graph,
and N live (paced) streams run in real time.

Usage::

    python benchmarks/robot_streams.py --input streams/test20.flac [--streams 1,8,32]
                                       [--seconds 60] [--json FILE]
    python benchmarks/robot_streams.py --input streams/test20.flac --paced --servers 2 \
                                       --streams 64,128,256 --seconds 30 [--json FILE]

Builds ``configs/cry_robot.yaml`` with its microphone replaced by N ``source.file`` nodes
(stream ids ``robot-0`` ..., each the first ``--seconds`` of the input) that all feed the
same nodes: every node keeps its state per stream, so one ``infer`` node serves all N.
The console sink is dropped. Each N runs once, as fast as possible, with the inline
executor (one core); the table shows the process's CPU seconds over the run (not only
the CPU inside node calls) per second of audio per stream and the
streams one core would carry in real time at that cost (1 / that figure), in one run.

``--paced`` checks that figure live: the N sources are real-time (``realtime: true``: each
frame is released at its stream time, and a frame its consumer cannot take is dropped,
as a microphone would), split over ``--servers`` processes (one graph each, threads
executor), each starting at one of 16 points spread over the input (robots do not cry in
lockstep; identical streams would send every cry to the need branch at once). A load is
sustained when no frame is dropped, every stream gives the events it gives alone, and the
run ends within a second or two of the audio's length. Beside the table it prints what
per-stream CPU allows: 32 streams with the same mix of start points, run once as fast as possible
in one process with the servers' executor (threads; inline for comparison), give the CPU
seconds per stream-second, and the machine's cores divided by that is the number of
streams the CPU could carry; the largest sustained N is reported as a share of it.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf
import yaml

from streamser.executors import run
from streamser.graph import load_graph

sys.path.insert(0, str(Path(__file__).resolve().parent))
from process_cpu import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: Distinct start points in the input for paced streams.
OFFSETS = 16


def graph_yaml(n: int, audio: Path, seconds: float, out: Path, realtime: bool = False,
               prefix: str = "robot", offsets: list[float] | None = None) -> Path:
    spec = yaml.safe_load((ROOT / "configs" / "cry_robot.yaml").read_text())
    nodes = spec["nodes"]
    del nodes["mic"], nodes["console"]
    sources = {f"src{i}": {"plugin": "source.file",
                           "params": {"path": str(audio.resolve()), "duration": seconds,
                                      "stream": f"{prefix}-{i}", "block": 4096,
                                      "realtime": realtime,
                                      "offset": offsets[i] if offsets else 0.0}}
               for i in range(n)}
    nodes["resample"]["input"] = list(sources) if n > 1 else "src0"
    nodes["events"]["params"]["path"] = str(out / "events.jsonl")
    nodes["publish"]["params"]["endpoint"] = f"ipc://{out}/events.sock"   # one per server
    spec["nodes"] = {**sources, **nodes}
    path = out / f"robots{n}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def count_lines(path: Path) -> int:
    with open(path) as fh:
        return sum(1 for _ in fh)


def serve(job: tuple[int, list[float], str, float]) -> dict:
    """One server process: paced streams (one per offset) in one graph (threads
    executor)."""
    index, offsets, audio, seconds = job
    with tempfile.TemporaryDirectory() as tmp:
        graph = load_graph(graph_yaml(len(offsets), Path(audio), seconds, Path(tmp),
                                      realtime=True, prefix=f"server{index}",
                                      offsets=offsets))
        t0, c0 = time.perf_counter(), time.process_time()
        metrics = run(graph, "threads")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        events = count_lines(Path(tmp) / "events.jsonl")
    return {"wall_s": wall, "cpu_s": cpu, "events": events,
            "dropped": sum(m.get("dropped", 0) for m in metrics.values())}


def paced(args: argparse.Namespace) -> list[dict]:
    # Robots do not cry in lockstep: stream g plays the input from offset g mod OFFSETS
    # (evenly spread over the file), and expects the events that offset gives alone.
    span = max(sf.info(args.input).duration - args.seconds, 0.0)
    offsets = [span * k / OFFSETS for k in range(OFFSETS)]
    alone = []
    for offset in offsets:
        with tempfile.TemporaryDirectory() as tmp:
            run(load_graph(graph_yaml(1, Path(args.input), args.seconds, Path(tmp),
                                      offsets=[offset])), "inline")
            alone.append(count_lines(Path(tmp) / "events.jsonl"))
    probe = 32
    cost = {}
    for executor in ("threads", "inline"):
        with tempfile.TemporaryDirectory() as tmp:
            graph = load_graph(graph_yaml(probe, Path(args.input), args.seconds, Path(tmp),
                                          offsets=[offsets[g % OFFSETS] for g in range(probe)]))
            c0 = time.process_time()
            run(graph, executor)
            cost[executor] = (time.process_time() - c0) / (probe * args.seconds)
    per_stream = cost["threads"]
    cores = len(os.sched_getaffinity(0))
    allowed = cores / per_stream
    print(f"per-stream CPU ({probe} streams, same start points, as fast as possible): "
          f"{1e3 * per_stream:.2f} ms per s of audio in the servers' threads executor "
          f"({1e3 * cost['inline']:.2f} inline) -> {cores} cores allow {allowed:.0f} streams",
          flush=True)
    rows = []
    ctx = multiprocessing.get_context("spawn")
    for n in [int(x) for x in args.streams.split(",")]:
        mine = [[offsets[g % OFFSETS] for g in range(n) if g % args.servers == i]
                for i in range(args.servers)]
        with ctx.Pool(args.servers) as pool:
            done = pool.map(serve, [(i, offs, args.input, args.seconds)
                                    for i, offs in enumerate(mine) if offs])
        row = {"streams": n, "servers": args.servers, "audio_s": args.seconds,
               "wall_s": max(d["wall_s"] for d in done),
               "cpu_s": sum(d["cpu_s"] for d in done),
               "dropped": sum(d["dropped"] for d in done),
               "events": sum(d["events"] for d in done),
               "events_expected": sum(alone[g % OFFSETS] for g in range(n))}
        row["sustained"] = (row["dropped"] == 0 and row["events"] == row["events_expected"]
                            and row["wall_s"] <= args.seconds + 2.0)
        row["cpu_allowed_streams"] = allowed
        row["cpu_per_stream_s"] = {"threads": cost["threads"], "inline": cost["inline"]}
        rows.append(row)
        print(f"{n} streams: wall {row['wall_s']:.1f} s for {args.seconds:g} s, "
              f"dropped {row['dropped']}, events {row['events']}/{row['events_expected']}",
              flush=True)
    print(f"\n{args.input}: first {args.seconds:g} s per stream, real-time sources, "
          f"{args.servers} server processes (threads executor), one run each\n"
          f"machine: {machine()}\n")
    print("| streams | wall s (audio s) | CPU s (all servers) | frames dropped | events / "
          "expected | sustained |")
    print("|---:|---:|---:|---:|---:|:---:|")
    for r in rows:
        print(f"| {r['streams']} | {r['wall_s']:.1f} ({r['audio_s']:g}) | {r['cpu_s']:.1f} | "
              f"{r['dropped']} | {r['events']} / {r['events_expected']} | "
              f"{'yes' if r['sustained'] else 'no'} |")
    best = max((r["streams"] for r in rows if r["sustained"]), default=0)
    print(f"\nlargest sustained: {best} streams = {100 * best / allowed:.0f} % of the "
          f"{allowed:.0f} that per-stream CPU allows ({cores} cores / "
          f"{1e3 * per_stream:.2f} ms per stream-second)")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--streams", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--paced", action="store_true",
                    help="real-time sources over --servers processes (see above)")
    ap.add_argument("--servers", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.paced:
        rows = paced(args)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(x) for x in args.streams.split(",")]:
            graph = load_graph(graph_yaml(n, Path(args.input), args.seconds, Path(tmp)))
            t0, c0 = time.perf_counter(), time.process_time()
            metrics = run(graph, "inline")
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
            node_cpu = sum(m.get("cpu_s", 0.0) for m in metrics.values())
            per_stream = cpu / (n * args.seconds)         # the whole process, not node calls
            events = count_lines(Path(tmp) / "events.jsonl")
            rows.append({"streams": n, "audio_s_per_stream": args.seconds,
                         "node_cpu_s": node_cpu, "process_cpu_s": cpu, "wall_s": wall,
                         "cpu_per_audio_s_per_stream": per_stream,
                         "streams_per_core": 1 / per_stream, "events": events})
    print(f"{args.input}: first {args.seconds:g} s per stream, inline executor, one run; "
          f"process CPU over the run (graph loading and start-up excluded)\n"
          f"machine: {machine()}\n")
    print("| streams | process CPU s | of which in node calls | ms CPU per s of audio per "
          "stream | real-time streams per core | events |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['streams']} | {r['process_cpu_s']:.2f} | {r['node_cpu_s']:.2f} | "
              f"{1e3 * r['cpu_per_audio_s_per_stream']:.2f} | {r['streams_per_core']:.0f} | "
              f"{r['events']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
