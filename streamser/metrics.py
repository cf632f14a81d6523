"""Per-node counters and process-time statistics, kept by the executor around a node."""
from __future__ import annotations

import random
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_RESERVOIR = 50_000

#: The metrics of the nodes running in this process, by graph name, then node name:
#: executors register them while a graph runs, so that a node (``sink.web``) can show its
#: graph's health.
LIVE: dict[str, dict[str, NodeMetrics]] = {}


@dataclass
class NodeMetrics:
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0    # frames a live node could not hand to a full queue
    rejected: int = 0   # malformed, oversized or off-contract messages received
    errors: int = 0     # frames dropped because the node raised on them (on_error: drop)
    expired: int = 0    # streams whose state was forgotten (idle, or over the cap)
    replaced: int = 0   # non-finite samples a source produced, replaced by 0
    calls: int = 0
    total_ns: int = 0   # wall time inside the node
    cpu_ns: int = 0     # CPU time of the calling thread inside the node
    _sample: array = field(default_factory=lambda: array("d"), repr=False)
    _rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def timed(self, ns: int, cpu_ns: int = 0) -> None:
        """Record one process()/flush() call: its wall duration (reservoir-sampled for
        the p99) and the CPU time it used (excludes waiting, preemption, steal)."""
        self.calls += 1
        self.total_ns += ns
        self.cpu_ns += cpu_ns
        if len(self._sample) < _RESERVOIR:
            self._sample.append(ns / 1e3)
        else:
            j = self._rng.randrange(self.calls)
            if j < _RESERVOIR:
                self._sample[j] = ns / 1e3

    def to_dict(self) -> dict[str, Any]:
        p99 = float(np.percentile(np.frombuffer(self._sample, dtype=np.float64), 99)) \
            if self._sample else 0.0
        return {"frames_in": self.frames_in, "frames_out": self.frames_out,
                "dropped": self.dropped, "rejected": self.rejected,
                "errors": self.errors, "expired": self.expired,
                "replaced": self.replaced,
                "mean_us": round(self.total_ns / self.calls / 1e3, 3) if self.calls else 0.0,
                "p99_us": round(p99, 3), "wall_s": round(self.total_ns / 1e9, 6),
                "cpu_s": round(self.cpu_ns / 1e9, 6)}


def render_table(metrics: dict[str, dict[str, Any]]) -> Any:
    """A rich table of per-node metrics (printed at exit)."""
    from rich.table import Table

    table = Table(title="streamser metrics", title_justify="left")
    for col in ("node", "in", "out", "dropped", "rejected", "errors", "mean µs",
                "p99 µs"):
        table.add_column(col, justify="left" if col == "node" else "right")
    for name, m in metrics.items():
        if not m:  # a process that was killed before it could report
            table.add_row(name, *["-"] * 7)
            continue
        table.add_row(name, str(m["frames_in"]), str(m["frames_out"]), str(m["dropped"]),
                      str(m["rejected"]), str(m.get("errors", 0)), f"{m['mean_us']:.1f}",
                      f"{m['p99_us']:.1f}")
    return table
