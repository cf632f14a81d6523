"""features.yamnet: YAMNet as a backbone, one embedding row per 0.96 s log-mel patch.

The bundled ``yamnet.int8.tflite`` (Google's YAMNet, AudioSet, Apache-2.0; see the zoo's
NOTICE) has five outputs per patch: ``probs`` (521 sigmoid scores), ``logits`` (the same
before the sigmoid), ``embedding`` (the 1024-wide mean before the dense layer),
``feature_map`` (what that mean pools: 3 time x 2 frequency x 1024, flattened in that
order) and ``block12`` (the last block's input, same shape). This
node runs it once per patch and emits the chosen outputs as one ``features`` row, for a
small head (``infer`` on features) to read; ``timbre`` adds the patch's own timbre
(:func:`streamser.dsp.timbre.timbre`, 128 numbers) and ``envelope`` how its loudness moves
(:func:`streamser.dsp.timbre.envelope`, 33 numbers), both computed from the patch, not by
YAMNet. A head trained on these rows does not care how they were made, and ``streamser
adapt`` fits a home's verifier on the same rows.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from streamser.dsp.timbre import ENVELOPE_BINS, envelope, timbre
from streamser.frames import Frame
from streamser.node import Node, Params

OUTPUTS = ("embedding", "logits", "probs", "feature_map", "block12", "timbre", "envelope")
PATCH_SHAPE = (96, 64)
#: outputs computed from the patch itself: their function and width
PATCH_OUTPUTS = {"timbre": (timbre, 2 * PATCH_SHAPE[1]),
                 "envelope": (envelope, ENVELOPE_BINS + 1)}


class YamnetParams(Params):
    outputs: list[Literal["embedding", "logits", "probs", "feature_map", "block12",
                          "timbre", "envelope"]] = Field(
        ["embedding"], min_length=1,
        description="Which YAMNet outputs make the row, concatenated in the order given: "
                    "embedding (1024), logits (521), probs (521), feature_map (the last "
                    "block's 3 x 2 x 1024 output, before the mean), block12 (its input); "
                    "timbre (128: the patch's own spectral envelope and spread, not "
                    "YAMNet's); envelope (33: the spectrum of the patch's loudness "
                    "envelope and its spread).")
    model: str = Field("yamnet", description="Bundled model name or a YAMNet patch "
                                             "TFLite file with those three outputs.")
    threads: int = Field(1, ge=1, le=64, description="LiteRT threads.")


class YamnetBackbone:
    """The YAMNet flatbuffer behind an ``outputs``-selecting call: ``(P, 96, 64)`` log-mel
    patches -> ``(P, D)`` float32 rows (outputs dequantized, concatenated)."""

    def __init__(self, model: str | Path = "yamnet", outputs: tuple[str, ...] = ("embedding",),
                 threads: int = 1) -> None:
        from streamser.plugins.infer.backends import (
            TfliteBackend,
            _tflite_interpreter,
            native_stderr,
        )

        from streamser.zoo import artifact
        path = Path(model) if Path(model).is_file() else artifact(str(model), ".int8.tflite")
        with native_stderr():
            self.interp = _tflite_interpreter(path.read_bytes(), threads, False)
            self.interp.allocate_tensors()
        details = self.interp.get_signature_runner().get_output_details()
        self.outputs = tuple(outputs)
        missing = [o for o in outputs if o not in details and o not in PATCH_OUTPUTS]
        if missing:
            raise ValueError(f"{path.name} has no output {', '.join(missing)} (rebuild it "
                             "with python -m streamser.export.yamnet_bundle)")
        self._in = self.interp.get_signature_runner().get_input_details()["x"]
        self._dequantize = TfliteBackend._dequantize
        self._out = [details[o] for o in outputs if o not in PATCH_OUTPUTS]
        self.dims = sum(int(np.prod(d["shape"][1:])) for d in self._out) + \
            sum(PATCH_OUTPUTS[o][1] for o in outputs if o in PATCH_OUTPUTS)

    def __call__(self, patches: np.ndarray) -> np.ndarray:
        rows = np.empty((len(patches), self.dims), np.float32)
        own = {o: PATCH_OUTPUTS[o][0](patches) for o in self.outputs if o in PATCH_OUTPUTS}
        for i, patch in enumerate(patches):
            if self._out:
                self.interp.set_tensor(self._in["index"], patch[None].astype(np.float32))
                self.interp.invoke()
            parts, model = [], iter(self._out)
            for name in self.outputs:
                if name in own:
                    parts.append(own[name][i])
                else:
                    d = next(model)
                    parts.append(self._dequantize(self.interp.get_tensor(d["index"]),
                                                  d).reshape(-1))
            rows[i] = np.concatenate(parts)
        return rows


class YamnetFeatures(Node):
    """YAMNet backbone: a ``(96, 64)`` log-mel patch -> one row of its embedding (and/or
    logits, probs). Output: ``features`` ``(1, D)``, ``t`` the patch's start, meta ``hop``
    (the patch hop), ``win`` (the patch's span, so ``t + win`` is the last sample it
    read) and ``upto``."""

    Params = YamnetParams
    params: YamnetParams
    inputs = ("patch",)
    outputs = ("features",)

    @classmethod
    def audio_rate(cls, params: Params, rate: int | None) -> int | None:
        return None

    def start(self) -> None:
        self.backbone = YamnetBackbone(self.params.model, tuple(self.params.outputs),
                                       self.params.threads)

    def process(self, frame: Frame) -> list[Frame]:
        if tuple(frame.data.shape) != PATCH_SHAPE:
            raise ValueError(f"{self.name}: expects (96, 64) log-mel patches "
                             f"(features.logmel + window.patch), got {list(frame.data.shape)}")
        upto = float(frame.meta.get("upto") or frame.t + 0.975)
        meta = {"hop": frame.meta.get("hop", 0.48), "win": upto - frame.t, "upto": upto,
                "sample_rate": frame.meta.get("sample_rate")}
        if frame.meta.get("gap"):
            meta["gap"] = True
        return [Frame("features", self.backbone(frame.data[None]), t=frame.t, seq=frame.seq,
                      stream=frame.stream, meta=meta)]
