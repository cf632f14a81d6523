"""``--record SECONDS``: the home heard through the graph's own source (its microphone),
after a countdown, with a level meter, kept as a FLAC file."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ..graph import Graph
from .rows import Clip


def record(graph: Graph, source: str, seconds: float, out: Path, countdown: int = 3) -> Clip:
    """Capture ``seconds`` from node ``source`` of ``graph`` and write ``out``."""
    import soundfile as sf
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    console = Console(stderr=True)
    for k in range(countdown, 0, -1):
        console.print(f"recording the home in {k}...")
        time.sleep(1.0 if sys.stderr.isatty() else 0.0)
    node = graph.nodes[source].build()
    node.start()
    parts, got, rate = [], 0.0, 16000
    columns = (TextColumn("recording"), BarColumn(), TextColumn("{task.completed:.0f}/"
               "{task.total:.0f} s"), TextColumn("level {task.fields[db]:>6.1f} dBFS "
                                                 "{task.fields[meter]}"))
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("rec", total=seconds, db=-99.0, meter="")
            for frame in node.frames():            # type: ignore[attr-defined]
                rate = int(frame.meta.get("sample_rate", rate))
                x = np.asarray(frame.data, np.float32)[: max(0, round((seconds - got) * rate))]
                parts.append(x)
                got += len(x) / rate
                db = 10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-12)
                bar.update(task, completed=got, db=db,
                           meter="#" * int(np.clip((db + 70) / 3, 0, 20)))
                if got >= seconds - 1e-9:
                    break
    finally:
        close = getattr(node, "close", None)
        if close:
            close()
        node.stop()
    audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if not len(audio):
        raise ValueError(f"the source '{source}' gave no audio")
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out), audio, rate, subtype="PCM_16")
    return Clip(str(out), audio, rate)
