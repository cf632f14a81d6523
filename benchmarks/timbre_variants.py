"""Variants of the cry head's timbre input, each measured on the leave-source-out curves.

    python benchmarks/timbre_variants.py VARIANT [--cache ~/.cache/streamser/cry]

For one run of ``benchmarks/det.py --candidates linear-timbre-kinds-hop24-hold`` the
variant takes the place of :func:`streamser.dsp.timbre.timbre` (training rows and test
streams alike); results go to ``results/det/timbre_variants/VARIANT/`` (det.py's JSON,
table and plot). ``base`` is the timbre itself, to check that the run reproduces
``results/det/linear-timbre-kinds-hop24-hold.json``; ``envmod32`` is what the shipped head
reads (``HeadSpec(inputs="texture")``: the timbre and :func:`streamser.dsp.timbre.envelope`).

- ``delta``: plus the mean absolute frame-to-frame change per band (64);
- ``envmod``: plus the loudness envelope's spread and its spectrum's first 16 bins
  (1-16 cycles per patch: the rhythm of bursts and syllables);
- ``envmod32``: the same with 32 bins;
- ``envband``: the envelope's spread and 12 bins in each of four 16-band groups;
- ``half``: the envelope of the loudest half of the frames, not the loudest quarter.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

import streamser.dsp.timbre as timbre_module
from streamser.train import cryhead

BASE = timbre_module.timbre
CANDIDATE = "linear-timbre-kinds-hop24-hold"


def _envelope(p: np.ndarray, bins: int) -> np.ndarray:
    """The mean-removed loudness envelope's spectrum (bins 1..bins) and its spread."""
    e = p.mean(axis=2)
    e = e - e.mean(axis=1, keepdims=True)
    spec = np.abs(np.fft.rfft(e, axis=1))[:, 1:bins + 1] / p.shape[1]
    return np.concatenate([spec, e.std(axis=1, keepdims=True)], axis=1)


def delta(p: np.ndarray) -> np.ndarray:
    return np.concatenate([BASE(p), np.abs(np.diff(p, axis=1)).mean(axis=1)], axis=1)


def envmod(p: np.ndarray) -> np.ndarray:
    return np.concatenate([BASE(p), _envelope(p, 16)], axis=1)


def envmod32(p: np.ndarray) -> np.ndarray:
    return np.concatenate([BASE(p), _envelope(p, 32)], axis=1)


def envband(p: np.ndarray) -> np.ndarray:
    return np.concatenate([BASE(p), *(_envelope(p[:, :, 16 * g:16 * (g + 1)], 12)
                                      for g in range(4))], axis=1)


def half(p: np.ndarray) -> np.ndarray:
    k = p.shape[1] // 2
    loud = np.argsort(p.mean(axis=2), axis=1)[:, -k:]
    top = np.take_along_axis(p, loud[:, :, None], axis=1)
    env = top.mean(axis=1)
    env -= env.mean(axis=1, keepdims=True)
    return np.concatenate([env, top.std(axis=1)], axis=1)


VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "base": BASE, "delta": delta, "envmod": envmod, "envmod32": envmod32,
    "envband": envband, "half": half}


def chunked(f: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """``f`` over ``(n, frames, bands)`` patches, 4096 at a time, as float32."""
    def run(patches: np.ndarray) -> np.ndarray:
        p = np.asarray(patches)
        p = p[None] if p.ndim == 2 else p
        return np.concatenate([f(p[i:i + 4096].astype(np.float32)).astype(np.float32)
                               for i in range(0, len(p), 4096)])
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variant", choices=list(VARIANTS))
    ap.add_argument("--cache", default=str(Path.home() / ".cache/streamser/cry"))
    ap.add_argument("--out", default="results/det/timbre_variants")
    a = ap.parse_args()
    variant = chunked(VARIANTS[a.variant])
    timbre_module.timbre = variant                   # read at call time by det.py and cryhead
    cryhead.TIMBRE = variant(np.zeros((1, 96, 64), np.float32)).shape[1]
    out = Path(a.out) / a.variant
    sys.path.insert(0, str(Path(__file__).parent))
    import det
    det.main(["--cache", a.cache, "--candidates", CANDIDATE, "--json", str(out / "det.json"),
              "--png", str(out / "det.png"), "--plot", CANDIDATE])
    summary = json.loads((out / "det.json").read_text())   # det.py records its own argv
    summary["command"] = "python benchmarks/timbre_variants.py " + " ".join(sys.argv[1:])
    (out / "det.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
