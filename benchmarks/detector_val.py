"""Compare cry-detector recipes on a validation split, never touching the fixed test split.

Usage::

    python benchmarks/detector_val.py TAG [--set KEY=VALUE ...] [--data ../shared/data]
                                      [--out results/robot/val-TAG.json]

The recipe is ``configs/train/cry-detector.yaml`` (its ``data.test_groups_k: 5`` keeps the
test split out) with the ``--set`` overrides. A second group split is held out as well:
the groups whose CRC32 is 1 modulo 5 (about a fifth of the rest: babies, speakers, ESC-50
recordings), from training and from the augmentation's noise bank. The model is trained
on the remaining groups (the recipe's epochs, no early stopping), then every held-out
clip is streamed through it patch by patch, state fed back, and the share of its patches
scored cry (p >= 0.5) is averaged per kind (cry, noise, speech; laughter and silence have
no held-out groups). One training run per call: runs of one recipe differ, so compare
several seeds (``--set train.seed=1``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from streamser.plugins.features.logmel import LogMel
from streamser.plugins.infer import Infer
from streamser.plugins.window import Patch

from streamser.frames import Frame
from streamser.train import checkpoint
from streamser.train import experiment as ex
from streamser.train.clips import load_audio, read_manifest
from streamser.train.recipe import load_recipe
from streamser.train.splits import group_residue

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "configs/train/cry-detector.yaml"


def is_val(group: str) -> bool:
    """The validation split: CRC32 1 modulo 5 (the test split is 0 modulo 5)."""
    return group_residue(group, 5) == 1


def cry_share(node: Infer, path: Path) -> float:
    """The share of a clip's patches the model scores cry: the clip streamed through the
    robot's nodes as a stream of its own (so the recurrent state starts fresh)."""
    audio = load_audio(path, 16000)
    mel, patch = LogMel(LogMel.Params(), name="m"), Patch(Patch.Params(), name="p")
    mel.start()
    patch.start()
    scores = []
    for i in range(0, len(audio), 4096):
        f = Frame("audio", audio[i:i + 4096], t=i / 16000, stream=str(path),
                  meta={"sample_rate": 16000})
        for feats in mel.process(f):
            for p in patch.process(feats):
                scores += [float(s.data[0]) for s in node.process(p)]
    return float(np.mean(np.asarray(scores) >= 0.5)) if scores else float("nan")


def kind_of(clip) -> str:
    label = clip.extras.get("manifest_label", clip.label)
    if label in ("noise", "laugh", "silence"):
        return label
    return "cry" if clip.label == "cry" else "speech"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tag")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    noise = read_manifest(args.data / "babycry_esc/manifest.csv")
    held_noise = sorted({c.group for c in noise if c.label == "noise" and is_val(c.group)})
    recipe = load_recipe(RECIPE, (f"data.data_root={args.data}",
                                  f"data.augment.exclude_groups={json.dumps(held_noise)}",
                                  f"name=val-{args.tag}", *args.sets))
    started = time.perf_counter()
    data = ex.load_data(recipe, progress=False)
    val = np.array([is_val(g) for g in data.groups])
    print(f"{args.tag}: training on {int((~val).sum())} clips, {int(val.sum())} held out",
          flush=True)
    trained = ex.train_one(recipe, data, np.flatnonzero(~val))
    model = (args.out or ROOT / f"results/robot/val-{args.tag}.json").with_suffix(".pt")
    checkpoint.save(model, trained.model, ex.meta_for(recipe, data, trained))
    node = Infer(Infer.Params(model=str(model)), name="detect")
    node.start()
    shares: dict[str, list[float]] = {}
    for i in np.flatnonzero(val):
        shares.setdefault(kind_of(data.clips[i]), []).append(cry_share(node, data.clips[i].path))
    summary = {k: {"clips": len(v), "cry_patch_pct": round(100 * float(np.nanmean(v)), 1)}
               for k, v in sorted(shares.items())}
    print(f"{args.tag}: held-out share of patches scored cry: " + ", ".join(
        f"{k} {s['cry_patch_pct']} % ({s['clips']} clips)" for k, s in summary.items()))
    out = args.out or ROOT / f"results/robot/val-{args.tag}.json"
    out.write_text(json.dumps({"tag": args.tag, "sets": args.sets, "summary": summary,
                               "seconds": round(time.perf_counter() - started),
                               "per_clip": shares}, indent=1) + "\n")
    model.unlink()                       # the checkpoint only served the scoring


if __name__ == "__main__":
    main()
