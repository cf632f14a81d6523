"""Whole-process CPU of a graph on a file: ``/usr/bin/time`` around ``streamser run``
(start-up, imports and model loading included), pinned to one core, divided by the
audio's length. Prints the machine it ran on.

Usage::

    python benchmarks/process_cpu.py configs/cry_robot.yaml --input streams/test20.flac \
        [--set NODE.PARAM=VALUE ...] [--cpu 0] [--json FILE]

The run uses the inline executor (every node in one thread) and ``taskset -c CPU``, so
the figure is the CPU one robot's graph costs on one core of this machine. Per-node shares
come from ``streamser bench`` on the same file.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import soundfile as sf


def machine() -> str:
    """CPU model and core count, as lscpu says (or platform's guess)."""
    model = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except FileNotFoundError:
        pass
    import os
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{model}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
            f"load average {load:.1f} (other jobs on the machine inflate CPU figures)")


def measure(config: str, audio: str, sets: list[str], cpu: int) -> dict:
    seconds = sf.info(audio).duration
    with tempfile.TemporaryDirectory() as tmp:
        times = Path(tmp) / "time.txt"
        cmd = ["/usr/bin/time", "-f", "%U %S %M %e", "-o", str(times)]
        if shutil.which("taskset"):
            cmd += ["taskset", "-c", str(cpu)]
        cmd += [sys.executable, "-m", "streamser", "run", config, "--input", audio,
                "--events", str(Path(tmp) / "events.jsonl"), "-q", "-x", "inline"]
        for s in sets:
            cmd += ["--set", s]
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode:
            sys.exit(f"error: the run failed:\n{done.stderr[-2000:]}")
        user, system, rss_kb, wall = times.read_text().split()[-4:]
    cpu_s = float(user) + float(system)
    return {"config": config, "input": audio, "sets": sets, "audio_s": round(seconds, 1),
            "user_s": float(user), "sys_s": float(system), "wall_s": float(wall),
            "peak_rss_mb": round(int(rss_kb) / 1024, 1),
            "cpu_ms_per_audio_s": round(1000 * cpu_s / seconds, 2), "machine": machine()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("--input", required=True)
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--cpu", type=int, default=0, help="core to pin the run to")
    ap.add_argument("--json")
    a = ap.parse_args()
    r = measure(a.config, a.input, a.sets, a.cpu)
    print(f"{r['config']} on {r['input']} ({r['audio_s'] / 60:.1f} min): "
          f"{r['cpu_ms_per_audio_s']:.2f} ms CPU per audio second "
          f"(user {r['user_s']:.1f} s + sys {r['sys_s']:.1f} s, wall {r['wall_s']:.1f} s, "
          f"peak RSS {r['peak_rss_mb']:.0f} MB)\nmachine: {r['machine']}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(r, indent=2) + "\n")


if __name__ == "__main__":
    main()
