"""``streamser mkstream``, ``score-events``, ``bench`` and ``plot-events``: the click
commands of the evaluation tools (``streamser.evaluation``), which know nothing of click."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .errors import EXIT_INVALID, fail, load_or_exit
from .options import input_format_option, input_option, set_option


@click.command("mkstream")
@click.argument("manifests", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--minutes", type=float, default=20.0, show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Audio file to write (.flac or .wav, 16 kHz mono).")
@click.option("--truth", type=click.Path(dir_okay=False),
              help="Truth CSV (default: OUT with suffix .truth.csv).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--test-k", type=int, default=None,
              help="Only clips of the fixed test split (groups a recipe with "
                   "data.test_groups_k K never trains on).")
@click.option("--dev-k", type=int, default=None,
              help="Only clips of the fixed dev split (groups a recipe with "
                   "data.dev_groups_k K never trains on), to choose thresholds on.")
def mkstream_cmd(manifests: tuple[str, ...], minutes: float, out: str, truth: str | None,
                 seed: int, test_k: int | None, dev_k: int | None) -> None:
    """Build a long labelled stream (cries among speech, telephone-band speech, voices in
    other languages, laughter, noise, animals, household sounds, music and silence; some
    cries over noise) from MANIFESTS, with a truth CSV."""
    from ..evaluation.teststreams import make_stream, write
    paths = [Path(m) for m in manifests]
    for p in paths:
        if not p.is_file():
            fail(f"manifest not found: {p}")
    if minutes <= 0:
        fail("--minutes must be > 0")
    try:
        audio, rows = make_stream(paths, minutes, seed, test_k, dev_k)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    out_p = Path(out)
    truth_p = Path(truth) if truth else out_p.with_suffix(".truth.csv")
    write(audio, rows, out_p, truth_p)
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[str(r["kind"])] = kinds.get(str(r["kind"]), 0) + 1
    click.echo(f"wrote {out_p} ({len(audio) / 16000 / 60:.1f} min) and {truth_p}: "
               + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))


@click.command("score-events")
@click.argument("truth", type=click.Path(dir_okay=False))
@click.argument("events", type=click.Path(dir_okay=False))
@click.option("--json", "json_file", type=click.Path(dir_okay=False),
              help="Also write the scores as JSON.")
@click.option("--event", default="cry", show_default=True, help="Event name prefix.")
def score_events_cmd(truth: str, events: str, json_file: str | None, event: str) -> None:
    """Score EVENTS (a run's JSONL) against TRUTH (a mkstream CSV): episode precision,
    recall, F1, false alarms per hour, detection latency, need accuracy."""
    from ..evaluation.eventscore import episodes_of, read_detections, read_segments, render, score
    for p in (truth, events):
        if not Path(p).is_file():
            fail(f"not found: {p}")
    try:
        segments = read_segments(Path(truth))
        episodes, length = episodes_of(segments)
        result = score(episodes, read_detections(Path(events), event), length, segments)
    except (ValueError, KeyError) as exc:
        fail(str(exc))
    _report(render(result), result, json_file)


@click.command("bench")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@input_option
@input_format_option
@set_option
@click.option("--events", type=click.Path(dir_okay=False),
              help="Path for the graph's sink.events node (default: the graph's own, e.g. "
                   "out/cry_events.jsonl).")
@click.option("--truth", type=click.Path(dir_okay=False),
              help="A mkstream truth CSV: also score the run's events.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False),
              help="Also write the figures as JSON.")
def bench_cmd(config: str, input_: str | None, input_format: str | None,
              sets: tuple[str, ...], events: str | None, truth: str | None,
              json_file: str | None) -> None:
    """Real-time factor (CPU seconds per audio second, inline executor, one core), each
    node's CPU share, peak RSS, and with --truth the event scores, for CONFIG on --input
    (required: a file, synth:NAME or '-'). The graph's sinks write as in `streamser run`
    (events, scores)."""
    from ..evaluation.bench import bench, events_paths, render
    from ..executors import NodeFailed
    if input_ is None:
        fail("bench needs --input FILE|synth:NAME|- (a finite input to measure on)",
             EXIT_INVALID)
    graph = load_or_exit(config, sets, input_, events, input_format=input_format)
    paths = events_paths(graph)
    if truth and (len(paths) != 1 or paths[0] == "-"):
        fail("--truth needs one sink.events node writing to a file")
    try:
        result = bench(graph, config, input_, truth)
    except (NodeFailed, OSError) as exc:
        fail(str(exc))
    _report(render(result), result, json_file)


def _report(text: str, result: dict, json_file: str | None) -> None:
    """Print the figures, and write them as JSON when asked."""
    click.echo(text)
    if json_file:
        Path(json_file).write_text(json.dumps(result, indent=1) + "\n")


@click.command("plot-events")
@click.argument("audio", type=click.Path(exists=True, dir_okay=False))
@click.argument("events", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
@click.option("--scores", type=click.Path(exists=True, dir_okay=False),
              help="sink.jsonl file of the detector's scores frames.")
@click.option("--truth", type=click.Path(exists=True, dir_okay=False),
              help="mkstream truth CSV: shade the true episodes.")
@click.option("--start", type=float, default=0.0, show_default=True, help="Seconds.")
@click.option("--end", type=float, default=None, help="Seconds (default: the end).")
def plot_events_cmd(audio: str, events: str, out: str, scores: str | None,
                    truth: str | None, start: float, end: float | None) -> None:
    """A timeline PNG of a run: AUDIO's waveform, the cry score, the EVENTS."""
    import importlib.util
    if importlib.util.find_spec("matplotlib") is None:
        fail("matplotlib is not installed: pip install 'streamser[plot]'")
    from ..evaluation.plotevents import plot
    plot(Path(audio), Path(events), Path(out), Path(scores) if scores else None,
         Path(truth) if truth else None, start, end)
    click.echo(f"wrote {out}")
