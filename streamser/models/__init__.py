"""The model zoo (PyTorch; the ``train`` extra): M1-M5 of MODELS.md and the baselines.

``build(arch, input_dim, n_classes, **hparams)`` makes any of them; every model follows
:class:`streamser.models.base.SequenceModel`.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from .agate import AttentionGateLSTM
from .base import SequenceModel
from .baselines import BiLSTMAttention, GRUClassifier, LSTMClassifier
from .ctc import BLSTMCTC
from .dblmm import DBLMM
from .sae import SAEBLSTM
from .vggish import VGGishLSTM
from .yamnet_lstm import YamnetLSTM

ARCHITECTURES: dict[str, type[SequenceModel]] = {cls.arch: cls for cls in (
    AttentionGateLSTM, LSTMClassifier, GRUClassifier, BiLSTMAttention, DBLMM, BLSTMCTC,
    VGGishLSTM, SAEBLSTM, YamnetLSTM)}


def build(arch: str, input_dim: int, n_classes: int, **hparams: Any) -> SequenceModel:
    cls = ARCHITECTURES.get(arch)
    if cls is None:
        raise ValueError(f"unknown model architecture {arch!r}; known: "
                         f"{', '.join(ARCHITECTURES)}")
    return cls(input_dim, n_classes, **hparams)


def count_parameters(model: nn.Module, bias: bool = True) -> int:
    return sum(p.numel() for name, p in model.named_parameters()
               if bias or not name.endswith("bias"))
