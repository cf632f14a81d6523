"""Bundle Google's YAMNet patch model into ``streamser/zoo`` as ``yamnet.int8.tflite``.

    python -m streamser.export.yamnet_bundle ../shared/models/yamnet

The file is YAMNet's own int8 TFLite (AudioSet, 521 classes; input a ``[1, 96, 64]``
log-mel patch, exactly what ``features.logmel`` + ``window.patch`` emit), changed in two
ways only, so that an ``infer`` node configures itself from it: its signature's input and
output are renamed ``x`` and ``probs``, and a ``streamser`` metadata entry carries the
contract (labels from the class map, front-end, window mode). ``yamnet.json`` beside it is
what ``streamser models`` lists (origin, license, size). The NOTICE file in the zoo names
the model, its origin, its license and these changes.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from streamser import __version__
from streamser.plugins.infer.contract import FORMAT
from streamser.zoo import ZOO

from .tflite_build import with_metadata

NAME = "yamnet"
TASK = "AudioSet sound event tagging (521 classes, independent sigmoid scores) per 0.96 s patch"
ORIGIN = ("Google's YAMNet (tensorflow/models research/audioset/yamnet), patch-input int8 "
          "TFLite as published in google-coral/coralmicro models/yamnet_spectra_in.tflite")
LICENSE = "Apache-2.0"
MEAN_OP, FULLY_CONNECTED_OP = 40, 9          # TFLite builtin operator codes
FRONTEND: dict[str, Any] = {"features": [{"plugin": "features.logmel", "params": {}}],
                            "rate": 16000, "patch": {"hop": 0.48}}


def class_names(class_map: Path) -> list[str]:
    with open(class_map, newline="") as fh:
        return [row["display_name"] for row in csv.DictReader(fh)]


def contract(labels: list[str]) -> dict[str, Any]:
    return {"format": FORMAT, "streamser": __version__, "name": NAME, "arch": "yamnet",
            "task": TASK, "labels": labels, "build": "int8", "mode": "window",
            "x": [96, 64], "states": [], "frontend": FRONTEND, "multilabel": True,
            "normalizer": {"mean": [0.0] * 64, "std": [1.0] * 64},
            "steps_per_second": round(1 / FRONTEND["patch"]["hop"], 6),
            "origin": ORIGIN, "license": LICENSE}


def parameter_count(model: bytes) -> int:
    """Elements of the weight and bias tensors (every constant tensor of the graph)."""
    from ai_edge_litert.tools import flatbuffer_utils

    obj = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    total = 0
    for tensor in obj.subgraphs[0].tensors:
        data = obj.buffers[tensor.buffer].data
        if data is not None and len(data) and tensor.shape is not None:
            total += int(np.prod(tensor.shape))
    return total


def renamed_signature(model: bytes) -> bytes:
    """The model with its one signature's input and output named ``x`` and ``probs``, and
    four more outputs: ``embedding`` (the 1024-wide MEAN before the dense layer),
    ``logits`` (the dense layer's 521 outputs before the sigmoid), ``feature_map`` (the
    last block's ``3 x 2 x 1024`` output that the MEAN pools: time and frequency kept) and
    ``block12`` (the last block's input, for a head that retrains that block), all int8
    with their quantization (a reader dequantizes them). They cost nothing: the tensors are computed
    anyway, and a backbone reader (``features.yamnet``) takes them from the same call."""
    from ai_edge_litert.tools import flatbuffer_utils

    obj = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    if len(obj.signatureDefs) != 1:
        raise ValueError(f"expected one signature, found {len(obj.signatureDefs)}")
    sig = obj.signatureDefs[0]
    if len(sig.inputs) != 1 or len(sig.outputs) != 1:
        raise ValueError("expected one input and one output")
    sig.inputs[0].name, sig.outputs[0].name = "x", "probs"
    graph = obj.subgraphs[0]
    codes = [obj.operatorCodes[op.opcodeIndex].builtinCode for op in graph.operators]
    mean = max(i for i, c in enumerate(codes) if c == MEAN_OP)
    if codes[mean + 1] != FULLY_CONNECTED_OP:
        raise ValueError("expected MEAN then FULLY_CONNECTED at the top of YAMNet")
    extra = {"embedding": int(graph.operators[mean].outputs[0]),
             "logits": int(graph.operators[mean + 1].outputs[0]),
             "feature_map": int(graph.operators[mean].inputs[0]),
             "block12": int(graph.operators[mean - 2].inputs[0])}
    for name, tensor in extra.items():
        graph.outputs = np.append(graph.outputs, np.int32(tensor))
        out = copy.deepcopy(sig.outputs[0])
        out.name, out.tensorIndex = name, tensor
        sig.outputs.append(out)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj))


def bundle(source: Path, zoo: Path = ZOO) -> Path:
    """Write ``yamnet.int8.tflite`` and ``yamnet.json`` into ``zoo`` from the folder
    ``source`` (``yamnet_patch.tflite``, ``yamnet_class_map.csv``)."""
    original = (source / "yamnet_patch.tflite").read_bytes()
    labels = class_names(source / "yamnet_class_map.csv")
    c = contract(labels)
    model = with_metadata(renamed_signature(original), c)
    out = zoo / f"{NAME}.int8.tflite"
    out.write_bytes(model)
    meta = {"format": "streamser-bundled/1", "name": NAME, "task": TASK, "arch": "yamnet",
            "labels": labels, "frontend": FRONTEND, "parameters": parameter_count(original),
            "size_bytes": len(model), "origin": ORIGIN, "license": LICENSE,
            "notice": "NOTICE", "source_sha256": hashlib.sha256(original).hexdigest(),
            "changes": ("signature input/output renamed x/probs; outputs embedding (MEAN), "
                        "logits (before the sigmoid), feature_map (the MEAN's input) and "
                        "block12 (the last block's input) added; streamser metadata added")}
    (zoo / f"{NAME}.json").write_text(json.dumps(meta, indent=1) + "\n")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m streamser.export.yamnet_bundle YAMNET_FOLDER")
    print(f"wrote {bundle(Path(sys.argv[1]))}")
