"""Does band-limiting to the telephone band make the cry detector call things cry?

Usage::

    python benchmarks/cry_bandlimit.py [--model cry-detector] [--build .int8.tflite]
                                       [--data ../shared/data] [--test-k 5] [--json FILE]

donateacry's cries are all 8 kHz audio (nothing above 4 kHz): a detector could learn
"band-limited means cry". This streams every clip of the fixed test split (groups the
bundled detector never trained on; laughter and silence have none, so all their clips)
through the detector patch by patch, state fed back, once as recorded and once
band-limited to 4 kHz (``augment.bandlimit``, as ``mkstream`` makes telephone speech),
and reports the share of patches scored cry (p >= 0.5) per kind; the last row is the noise
clips the detector trained on, for contrast. One run, one table.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from streamser.plugins.infer.backends import open_backend

from streamser.evaluation.teststreams import RATE, load, read_sources
from streamser.train.augment import bandlimit
from streamser.frontend import FrontEnd
from streamser.train.splits import is_test_group
from streamser.zoo import artifact


def cry_share(backend, items: list[np.ndarray]) -> float:
    c = backend.contract
    col = c.labels.index("cry")
    hits = total = 0
    for patches in items:
        states = c.initial_states(1)
        for x in patches:
            probs, states = backend.run(c.normalize(x)[None], states)
            hits += int(probs[0, col] >= 0.5)
            total += 1
    return hits / max(total, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="cry-detector")
    ap.add_argument("--build", default=".int8.tflite")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--test-k", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    backend = open_backend(artifact(args.model, args.build))
    frontend = FrontEnd.from_dict(backend.contract.raw["frontend"])
    root = Path(args.data)
    sources = read_sources([root / f"{m}/manifest.csv" for m in
                            ("donateacry", "babycry_esc", "emodb")], args.test_k)
    # the noise clips the detector trained on, for contrast with the unseen ones
    seen = [s for s in read_sources([root / "babycry_esc/manifest.csv"], None)["noise"]
            if not is_test_group(s.group, args.test_k)]
    rows = {}
    for kind in ("cry", "speech", "laugh", "noise", "silence", "noise (training split)"):
        clips = [load(s.path) for s in (seen if kind.endswith("(training split)")
                                        else sources.get(kind, []))]
        full = [frontend.extract(a) for a in clips]
        band = [frontend.extract(bandlimit(a, RATE)) for a in clips]
        rows[kind] = {"clips": len(clips), "full_band": cry_share(backend, full),
                      "telephone_band": cry_share(backend, band)}
    print(f"{args.model}{args.build}: share of patches scored cry (p >= 0.5), test split "
          f"k={args.test_k}\n")
    print("| kind | clips | as recorded | band-limited to 4 kHz |")
    print("|---|---:|---:|---:|")
    for kind, r in rows.items():
        print(f"| {kind} | {r['clips']} | {100 * r['full_band']:.1f} % | "
              f"{100 * r['telephone_band']:.1f} % |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
