"""``streamser bench``'s measurement: a graph run inline on a file, its real-time factor,
each node's CPU share, peak RSS and, given a truth CSV, the scores of its events."""
from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

from ..graph import Graph


def bench(graph: Graph, config: str, input_: str, truth: str | None = None
          ) -> dict[str, Any]:
    """Run ``graph`` (its source already on ``input_``) with the inline executor and
    measure it; the graph's sinks write as in ``streamser run``."""
    from ..executors import Control, run
    paths = events_paths(graph)
    control = Control()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    metrics = run(graph, "inline", control)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    audio_s = max(sum(control.position.values()), 1e-9)     # seconds the source gave
    node_cpu = {name: m.get("cpu_s", 0.0) for name, m in metrics.items()}
    total = sum(node_cpu.values())
    result: dict[str, Any] = {
        "config": config, "input": input_, "audio_s": audio_s, "executor": "inline",
        "rtf_nodes": total / audio_s, "rtf_process": cpu / audio_s, "events": paths,
        "wall_s": wall, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        / 1024, "node_cpu_s": node_cpu,
        "node_share": {k: v / total if total else 0.0 for k, v in node_cpu.items()}}
    branch = need_branch(graph)
    if branch:
        result["need_branch"] = {"nodes": branch, "ms_per_audio_s": 1e3 * sum(
            node_cpu.get(n, 0.0) for n in branch) / audio_s}
    if truth:
        from .eventscore import episodes_of, read_detections, read_segments, score
        segments = read_segments(Path(truth))
        episodes, length = episodes_of(segments)
        written = Path(paths[0])
        result["scores"] = score(episodes, read_detections(written) if written.is_file()
                                 else [], length, segments)
    return result


def events_paths(graph: Graph) -> list[str]:
    """Where the graph's ``sink.events`` nodes write."""
    return [str(s.params.path) for s in graph.nodes.values()  # type: ignore[attr-defined]
            if s.plugin == "sink.events"]


def render(result: dict[str, Any]) -> str:
    """The figures as ``streamser bench`` prints them."""
    audio_s, node_cpu = result["audio_s"], result["node_cpu_s"]
    lines = [f"{result['config']} on {result['input']} ({audio_s:.1f} s of audio), "
             "inline executor",
             f"real-time factor {result['rtf_nodes']:.4f} (node CPU s per audio s; whole "
             f"process {result['rtf_process']:.4f}); peak RSS "
             f"{result['peak_rss_mib']:.0f} MiB"]
    for name, share in sorted(result["node_share"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {name:12s} {100 * share:5.1f} %  "
                     f"{1e3 * node_cpu[name] / audio_s:7.3f} ms per s of audio")
    if result["events"]:
        lines.append(f"events: {', '.join(result['events'])}")
    if "need_branch" in result:
        nb = result["need_branch"]
        lines.append(f"need branch ({', '.join(nb['nodes'])}): {nb['ms_per_audio_s']:.3f} "
                     "ms CPU per s of audio")
    if "scores" in result:
        from .eventscore import render as render_scores
        lines.append(render_scores(result["scores"]))
    return "\n".join(lines)


def need_branch(graph: Any) -> list[str]:
    """The nodes of a graph's need branch: from each ``gate.scores`` node through its
    consumers up to and including the ``merge.need`` node they feed."""
    out: list[str] = []
    todo = [n for n, spec in graph.nodes.items() if spec.plugin == "gate.scores"]
    while todo:
        name = todo.pop(0)
        if name in out:
            continue
        out.append(name)
        if graph.nodes[name].plugin != "merge.need":
            todo += [c for c in graph.consumers.get(name, [])
                     if graph.nodes[c].plugin not in ("smooth.hysteresis",)]
    return out
