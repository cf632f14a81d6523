"""cry-yamnet's architecture: YAMNet (AudioSet, pretrained, frozen) embeds each 0.96 s
log-mel patch; M1's attention-gate cell carries the state across patches (the seed's
structure: a CNN per patch, recurrent across patches).

Per patch: YAMNet's 1024-wide embedding (``streamser.models.yamnet``), or with
``inputs: logits`` YAMNet's own 521 AudioSet logits of it -> a ReLU projection to
``proj`` -> the attention-gate cell (``hidden``) -> logits. The backbone's
weights come from the bundled YAMNet TFLite (:meth:`load_backbone`) and stay frozen, so
training needs each patch's embedding only once: :meth:`encode_items` turns patch
sequences ``(P, 96, 64)`` into embedding sequences ``(P, 1024)`` (cached on disk), and
every method takes either (4-D patches or 3-D embeddings, by ``x.dim()``). The model
reads raw log-mel (``raw_input``: the training normalizer is the identity), as YAMNet
was trained on. ``step`` takes a patch, so the exported model is patch in, scores out.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .agate import AttentionGateCell
from .base import SequenceModel, State, last_valid, valid_mask
from .yamnet import EMBEDDING, N_CLASSES, YAMNet

CACHE = Path(os.environ.get("STREAMSER_CACHE", Path.home() / ".cache" / "streamser"))


class YamnetLSTM(SequenceModel):
    arch = "yamnet_lstm"
    input_kind = "patches"
    streaming = True
    raw_input: ClassVar[bool] = True
    defaults = {"proj": 128, "hidden": 64, "dropout": 0.3, "inputs": "embedding"}

    def __init__(self, input_dim: int, n_classes: int, **hparams: Any) -> None:
        super().__init__(input_dim, n_classes, **hparams)
        if input_dim != 64:
            raise ValueError("yamnet_lstm takes 64-band log-mel patches (features.logmel)")
        hp = self.hparams
        self.backbone = YAMNet()
        self.backbone.requires_grad_(False)
        if hp["inputs"] not in ("embedding", "logits"):
            raise ValueError(f"yamnet_lstm: inputs must be 'embedding' or 'logits', "
                             f"not {hp['inputs']!r}")
        self.proj = nn.Linear(EMBEDDING if hp["inputs"] == "embedding" else N_CLASSES,
                              hp["proj"])
        self.drop = nn.Dropout(hp["dropout"])
        self.cell = AttentionGateCell(hp["proj"], hp["hidden"])
        self.head = nn.Linear(hp["hidden"], n_classes)

    def load_backbone(self, path: str | Path | None = None) -> None:
        """YAMNet's weights from its TFLite flatbuffer (default: the bundled one)."""
        self.backbone.load_state_dict(YAMNet.from_tflite(path).state_dict())
        self.backbone.requires_grad_(False)

    def prepare(self, sequences: list[np.ndarray]) -> None:
        self.load_backbone()

    def train(self, mode: bool = True) -> YamnetLSTM:
        super().train(mode)
        self.backbone.eval()          # frozen: batch statistics never change
        return self

    @torch.no_grad()
    def encode_items(self, items: list[np.ndarray], batch: int = 256,
                     progress: Any = None) -> list[np.ndarray]:
        """Patch sequences -> embedding sequences, each cached on disk by the hash of its
        patches and of the backbone's weights."""
        tag = hashlib.sha1(b"".join(p.detach().numpy().tobytes()
                                    for p in self.backbone.parameters())).hexdigest()[:12]
        folder = CACHE / "embeddings" / tag
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        embed = None
        for i, item in enumerate(items):
            key = hashlib.sha1(np.ascontiguousarray(item, np.float32).tobytes()).hexdigest()
            path = folder / f"{key}.npy"
            if path.is_file():
                out.append(np.load(path))
            else:
                embed = embed or self._embedder(folder)
                x = np.ascontiguousarray(item, np.float32)
                e = np.concatenate([embed(x[j:j + batch]) for j in range(0, len(x), batch)])
                np.save(path, e)
                out.append(e)
            if progress:
                progress(i + 1, len(items))
        return out

    def _embedder(self, folder: Path) -> Callable[[np.ndarray], np.ndarray]:
        """The backbone's ``embed`` as a function of numpy patches: through onnxruntime
        where it is installed (the backbone exported once into ``folder``; about 10x
        faster than PyTorch's depthwise convolutions on a CPU, equal to 1e-5), else
        PyTorch."""
        try:
            import onnxruntime as ort
        except ImportError:
            return lambda x: self.backbone.embed(torch.from_numpy(x)).numpy()
        path = folder / "backbone.onnx"
        if not path.is_file():
            from torch.export import Dim

            self.backbone.eval()
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(_Embed(self.backbone), (torch.zeros(2, 96, 64),),
                                  str(partial), dynamo=True, external_data=False,
                                  input_names=["x"], output_names=["embedding"],
                                  dynamic_shapes={"patches": {0: Dim("batch")}}, verbose=False)
            partial.replace(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return lambda x: session.run(None, {"x": x})[0]

    def _embed(self, x: Tensor) -> Tensor:
        """``(B, P, 96, 64)`` patches or ``(B, P, 1024)`` embeddings -> ``(B, P, proj)``."""
        if x.dim() == 4:
            x = self.backbone.embed(x.flatten(0, 1)).unflatten(0, x.shape[:2])
        return self.drop(F.relu(self.proj(self._inputs(x))))

    def _inputs(self, embedding: Tensor) -> Tensor:
        """What the head reads: the 1024-wide embedding, or (``inputs: logits``) YAMNet's
        own 521 AudioSet logits of it (frozen classifier), which name what a sound is
        (cat, laughter, baby cry) for sounds our data never shows."""
        if self.hparams["inputs"] == "logits":
            return self.backbone.classifier(embedding)
        return embedding

    def forward_steps(self, x: Tensor) -> Tensor:
        return self.head(self.drop(self.cell.sequence(self._embed(x))))

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        return self.head(self.drop(last_valid(self.cell.sequence(self._embed(x)), lengths)))

    def initial_state(self, batch: int) -> State:
        return self.cell.initial(batch)

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """One patch ``(B, 96, 64)`` (or embedding ``(B, 1024)``) -> logits, new state."""
        e = self.backbone.embed(x) if x.dim() == 3 else x
        h, state = self.cell.step(F.relu(self.proj(self._inputs(e))), state)
        return self.head(h), state

    def loss(self, x: Tensor, lengths: Tensor, target: Tensor,
             class_weight: Tensor | None = None, stage: str = "main") -> Tensor:
        """Every patch carries its clip's label (or its own, for spliced sequences)."""
        logits = self.forward_steps(x)
        every = target if target.dim() == 2 else target.unsqueeze(1).expand(-1, x.shape[1])
        ce = F.cross_entropy(logits.transpose(1, 2), every, weight=class_weight,
                             reduction="none")
        mask = valid_mask(lengths, x.shape[1]).to(ce.dtype)
        return (ce * mask).sum() / mask.sum()

    def parameters_for(self, stage: str) -> Iterator[nn.Parameter]:
        return (p for name, p in self.named_parameters() if not name.startswith("backbone."))


class _Embed(nn.Module):
    """The backbone's embedding as a module's forward (for the ONNX export)."""

    def __init__(self, backbone: YAMNet) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, patches: Tensor) -> Tensor:
        return self.backbone.embed(patches)
