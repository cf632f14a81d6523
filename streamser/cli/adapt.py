"""``streamser adapt``: teach the robot a home's own sounds (:mod:`streamser.adapt`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .errors import EXIT_INVALID, fail, load_or_exit


class Greedy(click.Option):
    """An option that takes every following argument up to the next option
    (``--negatives a.flac b.flac dir/``); repeatable."""

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        for name in self.opts:
            opt = parser._long_opt.get(name)
            if opt is None:
                continue
            plain = opt.process

            def process(value: Any, state: Any, plain: Any = plain) -> None:
                values = [value]
                while state.rargs and not state.rargs[0].startswith("-"):
                    values.append(state.rargs.pop(0))
                for v in values:
                    plain(v, state)
            opt.process = process


def _adapt_head(config: str, graph: Any, det: Any, cs: Any, neg: list, pos: list,
                out_path: Path) -> None:
    """Re-fit the head (continuing an earlier fit when CONFIG's head is one), write
    NEW.head.onnx, its state NEW.head.npz and NEW.yaml; AdaptError when refused."""
    from rich.progress import Progress

    from ..adapt.detector import adapted_head_graph
    from ..adapt.fit import HeadFit, fit_head
    from ..adapt.headfit import OnnxHead
    from ..plugins.infer import _model_file
    head = OnnxHead(_model_file(graph.nodes[det.head].params, measure=False))
    base = None
    earlier = head.meta.get("adapted")
    if earlier:
        base = HeadFit.load(head.path.parent / earlier["state"], head.w0, head.b0)
    total = sum(c.seconds for c in [*neg, *pos])
    with Progress(transient=True) as bar:
        task = bar.add_task("backbone rows of the home's clips", total=total)
        result, report = fit_head(graph, det, cs, head, neg, pos, base,
                                  lambda s: bar.advance(task, s))
    model = out_path.with_suffix(".head.onnx")
    state = out_path.with_suffix(".head.npz")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    result.save(state)
    origin = earlier["from"] if earlier else str(head.path)
    head.write(model, result.w, result.b, {"from": origin, "state": state.name,
                                          "config": str(config), **result.meta})
    raw = adapted_head_graph(graph.raw, det, model.name)
    out_path.write_text(f"# {graph.name} adapted to a home by `streamser adapt` "
                        f"(head: {model.name})\n" + _yaml_dump(raw))
    for line in report.lines():
        click.echo(line, err=True)
    click.echo(f"wrote {out_path}, {model} and {state}", err=True)


def _method(graph: Any, det: Any, asked: str | None) -> str:
    """The method: an adapted graph's own (another one is an AdaptError), else ``asked``,
    else timbre."""
    from ..adapt.detector import AdaptError
    from ..adapt.store import file_format
    from ..adapt.timbre import FORMAT as TIMBRE
    from ..adapt.verifier import FORMAT as VERIFIER
    own = None
    if det.verifier:
        kind = file_format(graph.nodes[det.verifier].params.model)
        own = {TIMBRE: "timbre", VERIFIER: "verifier"}.get(kind or "")
        if own is None:
            raise AdaptError(f"{graph.nodes[det.verifier].params.model}: not a verifier "
                             "adapt wrote")
    elif _adapted_head(graph, det):
        own = "head"
    if own and asked and asked != own:
        raise AdaptError(f"{graph.file} was adapted with --method {own}; adapt it with "
                         f"--method {own} (or adapt the original graph)")
    return own or asked or "timbre"


def _adapted_head(graph: Any, det: Any) -> bool:
    from ..adapt.headfit import OnnxHead
    from ..plugins.infer import _model_file
    try:
        return bool(OnnxHead(_model_file(graph.nodes[det.head].params, measure=False))
                    .meta.get("adapted"))
    except (ValueError, OSError):
        return False


def _yaml_dump(raw: dict[str, Any]) -> str:
    import yaml
    return yaml.safe_dump(raw, sort_keys=False, default_flow_style=None, width=100)


@click.command("adapt")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--negatives", cls=Greedy, multiple=True, metavar="PATH...",
              help="The home's own sounds: audio files or folders of them.")
@click.option("--positives", cls=Greedy, multiple=True, metavar="PATH...",
              help="The home's own baby crying (half fit, half guard).")
@click.option("--record", "record_s", type=click.FloatRange(1, 3600), metavar="SECONDS",
              help="Record the home from the graph's own source first (kept beside "
                   "NEW.yaml).")
@click.option("--recording", type=click.Path(), help="The robot's recording (a file from "
              "stream time 0, a sink.wav episode file or their folder), for --false-alarms.")
@click.option("--events", type=click.Path(), help="The events file of that run.")
@click.option("--false-alarms", "marks", metavar="T1,T2,...|@FILE",
              help="cry_start times that were wrong (or a file of JSON lines with 't').")
@click.option("--cry-set", type=click.Path(), help="Cry set to fit against (default: the "
              "bundled one, python -m streamser.adapt.cryset rebuilds it).")
@click.option("--method", type=click.Choice(["timbre", "verifier", "head"]), default=None,
              help="timbre (default for a new adaptation): a verify.home node that zeroes "
              "the cry score where a patch sounds like the home; verifier: a verify.home "
              "node with a logistic verifier on the backbone's rows; head: re-fit the "
              "detector head's last layer (a new .head.onnx). An adapted CONFIG goes on "
              "with its own method.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), metavar="NEW.yaml",
              help="The adapted graph; its verifier is written beside it.")
def adapt_cmd(config: str, negatives: tuple[str, ...], positives: tuple[str, ...],
              record_s: float | None, recording: str | None, events: str | None,
              marks: str | None, cry_set: str | None, method: str | None,
              out: str) -> None:
    """Teach CONFIG's detector this home's own sounds; write NEW.yaml that runs it."""
    from ..adapt import cryset
    from ..adapt.detector import AdaptError, adapted_graph, find_detector
    from ..adapt.fit import check_backbone, fit
    from ..adapt.marks import cut_marks, parse_marks
    from ..adapt.rows import audio_files, read_clip
    from ..adapt.verifier import Verifier

    if not Path(config).is_file():
        fail(f"{config}: no such graph file", EXIT_INVALID)
    if not (negatives or record_s or marks):
        fail("nothing to learn from: give --negatives PATH..., --record SECONDS or "
             "--false-alarms", EXIT_INVALID)
    if marks and not recording:
        fail("--false-alarms needs --recording (the audio the robot heard)", EXIT_INVALID)
    # clips are fed past the graph's source: only --record needs its package (pyaudio)
    graph = load_or_exit(config, **({} if record_s else {"missing_packages": "warn"}))
    out_path = Path(out)
    try:
        det = find_detector(graph)
        cs = cryset.load(cry_set or cryset.DEFAULT)
        check_backbone(graph, det, cs, config)
        neg = [read_clip(p) for p in audio_files(negatives)]
        pos = [read_clip(p) for p in audio_files(positives)]
        if marks:
            neg += cut_marks(Path(recording or ""), Path(events) if events else None,
                             parse_marks(marks))
        if record_s:
            from ..adapt.record import record
            neg.append(record(graph, det.source, record_s,
                              out_path.with_suffix(".recording.flac")))
        method = _method(graph, det, method)
        if method == "head":
            _adapt_head(config, graph, det, cs, neg, pos, out_path)
            return
        from rich.progress import Progress

        from ..adapt.detector import patch_node
        from ..adapt.fit import fit_timbre
        from ..adapt.timbre import TimbreGate
        existing = graph.nodes[det.verifier].params.model if det.verifier else None  # type: ignore
        meta = {"config": str(config), "head": graph.nodes[det.head].plugin,
                "signature": cs.meta["signature"]}
        total = sum(c.seconds for c in [*neg, *pos])
        with Progress(transient=True) as bar:
            task = bar.add_task("the home's clips", total=total)
            if method == "timbre":
                base = TimbreGate.load(existing) if existing else None
                verifier, report = fit_timbre(graph, det, cs, neg, pos, base,
                                              lambda s: bar.advance(task, s), meta)
            else:
                base = Verifier.load(existing) if existing else None
                verifier, report = fit(graph, det, cs, neg, pos, base,
                                       lambda s: bar.advance(task, s), meta)
    except (AdaptError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    model = out_path.with_suffix(f".{method}.npz")
    verifier.save(model)
    raw = adapted_graph(graph.raw, det, model.name,
                        reads=patch_node(graph, det) if method == "timbre" else None)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(f"# {graph.name} adapted to a home by `streamser adapt` "
                        f"({method}: {model.name})\n" + _yaml_dump(raw))
    for line in report.lines():
        click.echo(line, err=True)
    click.echo(f"wrote {out_path} and {model}", err=True)
