"""The graph's own front-end, backbone and head, run over clips.

Each clip goes through fresh instances of the graph's chain from its source to the
backbone (:class:`~.detector.Detector`), exactly as ``streamser run --input CLIP`` would
feed them (blocks of the source's size, flushed at the end), so the rows adapt fits on
are the rows the robot computes. The head (an ``infer`` node, stateful or not) then
scores each clip's rows as one stream.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..frames import Frame
from ..graph import Graph
from ..node import Node
from .detector import Detector

#: Clips shorter than this are centred in zeros of this length (one 0.975 s patch).
MIN_SECONDS = 1.0
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                  ".au", ".caf", ".w64", ".rf64"}


@dataclass
class Clip:
    """Mono float32 audio with its rate and where it came from."""

    name: str
    audio: np.ndarray
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.rate


def audio_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every audio file named, or inside a named folder (recursively, sorted); a path
    that does not exist is a ``FileNotFoundError``."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"{p}: no audio files in this folder")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return out


def read_clip(path: Path) -> Clip:
    """A file as ``source.file`` reads it (libsndfile, channels averaged to mono)."""
    import soundfile as sf
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise ValueError(f"{path}: cannot read it as audio ({exc})") from None
    mono = audio[:, 0] if audio.shape[1] == 1 else audio.mean(axis=1, dtype=np.float32)
    if not len(mono):
        raise ValueError(f"{path}: no audio in it")
    return Clip(str(path), np.ascontiguousarray(mono), int(rate))


def _block(graph: Graph, det: Detector) -> int:
    return int(getattr(graph.nodes[det.source].params, "block", 4096))


def chain_frames(graph: Graph, det: Detector, clip: Clip,
                 taps: Sequence[str]) -> dict[str, list[Frame]]:
    """The frames each of the chain's ``taps`` nodes makes for one clip."""
    nodes: dict[str, Node] = {}
    out: dict[str, list[Frame]] = {name: [] for name in taps}
    try:
        for name in det.chain:
            nodes[name] = graph.nodes[name].build()
            nodes[name].start()
        block = _block(graph, det)
        for i in range(0, len(clip.audio), block):
            frame = Frame("audio", clip.audio[i:i + block], t=i / clip.rate, seq=i // block,
                          stream="clip", meta={"sample_rate": clip.rate})
            arrived = _push(graph, det, nodes, {det.source: [frame]})
            for name in taps:
                out[name] += arrived[name]
        arrived = _push(graph, det, nodes, {}, flush=True)
        for name in taps:
            out[name] += arrived[name]
    finally:
        for node in nodes.values():
            node.stop()
    return out


def backbone_rows(graph: Graph, det: Detector, clip: Clip) -> tuple[np.ndarray, list[Frame]]:
    """The backbone's rows ``(n, D)`` for one clip, and its frames as the head gets them."""
    out = chain_frames(graph, det, clip, (det.backbone,))[det.backbone]
    rows = [f.data for f in out]
    dims = rows[0].shape[1] if rows else 0
    return (np.concatenate(rows) if rows else np.zeros((0, dims), np.float32)), out


def _push(graph: Graph, det: Detector, nodes: dict[str, Node],
          arrived: dict[str, list[Frame]], flush: bool = False) -> dict[str, list[Frame]]:
    """One epoch through the chain (inline executor order); every node's output."""
    for name in det.chain:
        frames = []
        for producer in graph.nodes[name].inputs:
            for frame in arrived.get(producer, ()):
                frames += list(nodes[name].process(frame))
        if flush:
            frames += list(nodes[name].flush())
        arrived[name] = frames
    return arrived


def padded(clip: Clip, seconds: float = MIN_SECONDS) -> Clip:
    """A clip shorter than ``seconds`` centred in zeros of that length (a door knock
    shorter than one patch still gives a row, as it would amid a live stream)."""
    n = int(np.ceil(seconds * clip.rate))
    if len(clip.audio) >= n:
        return clip
    out = np.zeros(n, np.float32)
    at = (n - len(clip.audio)) // 2
    out[at:at + len(clip.audio)] = clip.audio
    return Clip(clip.name, out, clip.rate)


def clip_rows(graph: Graph, det: Detector, clips: Sequence[Clip],
              progress: Callable[[float], None] | None = None) -> list[np.ndarray]:
    """Rows of every clip, short ones :func:`padded` (``progress`` gets each clip's
    seconds when it is done)."""
    out = []
    for clip in clips:
        out.append(backbone_rows(graph, det, padded(clip))[0].astype(np.float32))
        if progress:
            progress(clip.seconds)
    return out


def clip_rows_and_patches(graph: Graph, det: Detector, clips: Sequence[Clip], patch: str,
                          progress: Callable[[float], None] | None = None
                          ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """As :func:`clip_rows`, and the ``patch`` node's patches ``(n, frames, bands)`` of
    each clip, one per row."""
    rows, patches = [], []
    for clip in clips:
        got = chain_frames(graph, det, padded(clip), (det.backbone, patch))
        r = [f.data for f in got[det.backbone]]
        rows.append(np.concatenate(r).astype(np.float32) if r else
                    np.zeros((0, 0), np.float32))
        patches.append(np.stack([np.asarray(f.data, np.float32) for f in got[patch]])
                       if got[patch] else np.zeros((0, 0, 0), np.float32))
        if progress:
            progress(clip.seconds)
    return rows, patches


class HeadScorer:
    """The graph's head over row sequences: each sequence is one stream from a fresh
    state, its rows ``hop`` seconds apart (what the backbone's frames say)."""

    def __init__(self, graph: Graph, det: Detector) -> None:
        self.node = graph.nodes[det.head].build()
        self.node.start()
        self._n = 0

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.node.contract.labels)   # type: ignore[attr-defined]

    def __call__(self, rows: np.ndarray, hop: float = 0.48) -> np.ndarray:
        """``(n, K)`` scores of ``(n, D)`` rows."""
        self._n += 1
        stream = f"seq{self._n}"
        out = []
        for i, row in enumerate(np.asarray(rows, np.float32)):
            frame = Frame("features", row[None], t=i * hop, seq=i, stream=stream,
                          meta={"hop": hop, "win": 0.975})
            out += [f.data for f in self.node.process(frame)]
        if len(out) != len(rows):
            raise ValueError(f"head '{self.node.name}' gave {len(out)} scores for "
                             f"{len(rows)} rows (its 'every' must be 1 to adapt it)")
        k = len(self.labels)
        return np.stack(out).astype(np.float32) if out else np.zeros((0, k), np.float32)

    def close(self) -> None:
        self.node.stop()
