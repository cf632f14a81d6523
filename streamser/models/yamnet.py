"""YAMNet, Google's AudioSet sound classifier (Apache-2.0), rebuilt in PyTorch from its
published architecture, its weights read from the int8 patch flatbuffer we ship.

Network (MobileNet-v1 layout): a 3x3 stride-2 convolution of 32 channels, then 13
depthwise-separable blocks (3x3 depthwise, 1x1 pointwise) of widths 64, 128, 128, 256,
256, 512 x6, 1024, 1024, stride 2 at the first 128, 256, 512 and 1024 blocks. Batch norm
is folded into each convolution's weights and bias (as in the flatbuffer); every
convolution is followed by ReLU6 (the flatbuffer's fused activation). Padding is
TensorFlow's 'same' (for stride 2 on even sizes: nothing before, one row/column after).
Global average pooling gives the 1024-wide embedding, a dense layer 521 logits, a sigmoid
the scores. Input: ``[B, 96, 64]`` log-mel patches (``features.logmel`` + ``window.patch``:
96 frames x 64 bands), frames as image height.

Parity with the TFLite model (it runs int8 activations, so equality cannot be exact),
measured by ``pytest tests/test_yamnet_torch.py -q -s`` on 197 patches of 30 real clips
(babycry_esc crying, laugh, noise, silence; noncry speech and noise): scores differ by at
most 0.103 (mean abs 0.00036), correlate 0.9987; top-1 class agrees on 93.4 % of patches,
top-5 sets share 4.62 of 5 classes on average; the embedding correlates 0.9995 with the
TFLite MEAN output. The test asserts mean < 0.001, max < 0.2, correlations > 0.995
(scores) and > 0.998 (embedding), top-1 >= 88 %, top-5 overlap >= 4.4.
Speed: its float ONNX export runs slower than the int8 TFLite under LiteRT's XNNPACK on an
AVX2 CPU (2.67 against 1.76 ms per patch; docs/performance.md).

``YAMNet.from_tflite(path)`` loads the weights (dequantized per channel with each tensor's
scales and zero points); ``path`` defaults to the bundled copy (:func:`bundled_tflite`).
Reading the flatbuffer needs ``ai_edge_litert`` (the ``export`` extra).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

PATCH_FRAMES, PATCH_BANDS, EMBEDDING, N_CLASSES = 96, 64, 1024, 521
STEM = (32, 2)                                   # first convolution: channels, stride
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          *[(512, 1)] * 5, (1024, 2), (1024, 1))  # depthwise-separable: width, stride
CRY_CLASSES = (19, 20)                           # "Crying, sobbing", "Baby cry, infant cry"
ZOO = Path(__file__).resolve().parents[1] / "zoo"
BUNDLED = (ZOO / "yamnet.int8.tflite", ZOO / "yamnet" / "yamnet_patch.tflite")


def bundled_tflite() -> Path:
    """The YAMNet patch flatbuffer bundled in the package."""
    for path in BUNDLED:
        if path.is_file():
            return path
    raise FileNotFoundError(f"no bundled YAMNet flatbuffer in {ZOO}: give a path")


class SameConv(nn.Conv2d):
    """A convolution (batch norm folded into weight and bias) with TensorFlow's 'same'
    padding, then ReLU6."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, groups: int = 1
                 ) -> None:
        # stride 1: 'same' is symmetric, let the convolution pad; stride 2: see forward
        super().__init__(cin, cout, kernel, stride, kernel // 2 if stride == 1 else 0,
                         groups=groups)

    def forward(self, x: Tensor) -> Tensor:
        if self.stride[0] > 1:
            pads = []
            for size in (x.shape[-1], x.shape[-2]):          # F.pad order: W, then H
                total = max((-(-size // 2) - 1) * 2 + self.kernel_size[0] - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return F.relu6(super().forward(x))


class YAMNet(nn.Module):
    """``forward``: ``[B, 96, 64]`` log-mel patches -> ``[B, 521]`` sigmoid scores;
    ``embed`` -> ``[B, 1024]``; ``logits`` -> ``[B, 521]`` before the sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [SameConv(1, STEM[0], 3, STEM[1])]
        prev = STEM[0]
        for width, stride in BLOCKS:
            layers += [SameConv(prev, prev, 3, stride, groups=prev), SameConv(prev, width, 1, 1)]
            prev = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(EMBEDDING, N_CLASSES)

    def embed(self, patches: Tensor) -> Tensor:
        return self.features(patches.unsqueeze(1)).mean(dim=(2, 3))

    def logits(self, patches: Tensor) -> Tensor:
        return self.classifier(self.embed(patches))

    def forward(self, patches: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(patches))

    @classmethod
    def from_tflite(cls, path: str | Path | None = None) -> YAMNet:
        """The network with the weights of a YAMNet patch flatbuffer (default: bundled)."""
        path = Path(path) if path else bundled_tflite()
        model = cls()
        convs = [m for m in model.features if isinstance(m, SameConv)]
        layers = read_tflite_layers(path)
        if len(layers) != len(convs) + 1:
            raise ValueError(f"{path}: {len(layers)} weighted layers, YAMNet has "
                             f"{len(convs) + 1}")
        with torch.no_grad():
            for conv, (op, stride, w, b) in zip(convs, layers):
                depthwise = conv.groups > 1
                if op != ("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D") or \
                        stride != conv.stride[0]:
                    raise ValueError(f"{path}: op {op} stride {stride} where YAMNet has "
                                     f"{'depthwise' if depthwise else 'conv'} stride "
                                     f"{conv.stride[0]}")
                # TFLite layouts: conv [out, kh, kw, in], depthwise [1, kh, kw, channels]
                w = w.transpose(3, 0, 1, 2) if depthwise else w.transpose(0, 3, 1, 2)
                conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
                conv.bias.copy_(torch.from_numpy(b))
            op, _, w, b = layers[-1]
            if op != "FULLY_CONNECTED" or w.shape != (N_CLASSES, EMBEDDING):
                raise ValueError(f"{path}: the last layer is not a dense 1024 -> 521")
            model.classifier.weight.copy_(torch.from_numpy(w))
            model.classifier.bias.copy_(torch.from_numpy(b))
        return model.eval()


def read_tflite_layers(path: Path) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
    """``(op, stride, weight, bias)`` of each CONV_2D, DEPTHWISE_CONV_2D and
    FULLY_CONNECTED of a flatbuffer, in op order, dequantized to float32."""
    from ai_edge_litert import schema_py_generated as schema
    try:
        model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    except OSError as e:
        raise FileNotFoundError(f"cannot read YAMNet flatbuffer {path}: {e.strerror}") from e
    graph = model.subgraphs[0]
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}
    relu6 = schema.ActivationFunctionType.RELU6
    out = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = names[max(code.builtinCode, code.deprecatedBuiltinCode)]
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        opts = op.builtinOptions
        if name != "FULLY_CONNECTED" and opts.fusedActivationFunction != relu6:
            raise ValueError(f"{path}: a {name} without ReLU6 is not YAMNet's")
        stride = getattr(opts, "strideH", 1)
        w, b = (_dequantized(model, graph.tensors[i]) for i in op.inputs[1:3])
        out.append((name, stride, w, b))
    return out


def _dequantized(model, tensor) -> np.ndarray:
    """A constant tensor as float32: ``(q - zero_point) * scale``, per channel along the
    quantized dimension when there are several scales."""
    dtypes = {9: np.int8, 2: np.int32, 0: np.float32}   # schema TensorType codes
    data = np.asarray(model.buffers[tensor.buffer].data, np.uint8)
    q = data.view(dtypes[tensor.type]).reshape(tensor.shape).astype(np.float64)
    quant = tensor.quantization
    if tensor.type == 0 or quant is None or quant.scale is None:
        return q.astype(np.float32)
    shape = [1] * q.ndim
    shape[quant.quantizedDimension if len(quant.scale) > 1 else 0] = -1
    scale = np.asarray(quant.scale, np.float64).reshape(shape)
    zero = np.asarray(quant.zeroPoint, np.float64).reshape(shape)
    return ((q - zero) * scale).astype(np.float32)
