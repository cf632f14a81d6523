"""The cry head: a small network on YAMNet's rows (``features.yamnet``), trained on the
cached rows of :mod:`.cryembed`.

Levers (each a field of :class:`HeadSpec`, each measured on the leave-source-out curve by
``benchmarks/det.py``):
- ``inputs``: YAMNet's 521 logits, its 1024-wide embedding, both, or ``map``: the last
  block's 3 x 2 x 1024 feature map before the mean pools it (coarse time and frequency
  kept; the ``emb`` arrays then hold the maps);
- ``classes``: ``binary`` (cry / other) or ``kinds`` (cry, laugh, scream, speech,
  child_speech, singing, animal, music, other: laughter and singing get outputs of their
  own; the cry score is the softmax's cry share);
- ``anchor``: YAMNet's own cry logit (the larger of classes 19 and 20) added to the cry
  output with this weight, the network learning a correction to it; weight decay pulls
  the correction toward zero, so the backbone's knowledge is kept where our data is silent;
- ``hard``: a second round of training where the training negatives the first round
  scored highest weigh ``hard`` times more (hard-negative mining across sources);
- ``inputs: block``: the last block of YAMNet itself is retrained (its depthwise and
  pointwise convolutions start from YAMNet's weights and learn at a tenth of the head's
  rate), reading ``block12``, the output of the frozen blocks below it (``emb`` arrays
  then hold those);
- ``source_power``: each negative source weighs ``1 / rows ** source_power`` (0.5: the
  square root; 1: every source alike, however many clips it has);
- ``dro``: group DRO over sources: after each epoch every source's weight is multiplied
  by ``exp(dro * its mean loss)`` (renormalized), so the worst-fitted sources, the ones
  most like sources never heard, pull hardest;
- ``bag``: a linear head averaged over this many seeds (one linear layer again);
- ``blend``: the cry score's log-odds mixed with YAMNet's own (zero-shot) cry log-odds,
  ``(1 - blend) * head + blend * yamnet``, after training (an ensemble with the backbone);
- ``inputs: timbre``: the logits and the timbre of the patch the backbone read
  (:func:`streamser.dsp.timbre.timbre`: the spectral envelope of its loudest frames and
  their spread, 128 numbers; the ``emb`` arrays then hold those; ``features.yamnet``
  output ``timbre`` at run time);
- ``inputs: texture``: the same and the patch's loudness envelope
  (:func:`streamser.dsp.timbre.envelope`, 33 numbers; output ``envelope``): 161 numbers;
- ``hidden``: 0 for a linear head;
- ``context``: the head reads this row and the ``context - 1`` rows before it (0.48 s
  apart), so it can tell a sustained cry from a short scream; exported as a stateful
  ``infer`` model whose state is those earlier rows.

The trained head is written as a float ONNX ``infer`` model (:func:`write_onnx`): input
``x`` one row of ``features.yamnet`` (``outputs: [embedding, logits]``), output ``probs``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..dsp.timbre import ENVELOPE_BINS
from .crycorpus import KINDS

EMB, MAP, LOGITS, TIMBRE, ENVELOPE = 1024, 6144, 521, 128, ENVELOPE_BINS + 1
#: the columns each ``inputs`` reads beside the logits that are computed from the patch
OWN = {"timbre": TIMBRE, "texture": TIMBRE + ENVELOPE}
CRY_LOGITS = (19, 20)
#: The backbone row each ``inputs`` reads (``features.yamnet`` outputs, in order).
BACKBONE_OUTPUTS = {"logits": ["embedding", "logits"], "embedding": ["embedding", "logits"],
                    "both": ["embedding", "logits"], "map": ["feature_map", "logits"],
                    "block": ["block12", "logits"],
                    "timbre": ["embedding", "logits", "timbre"],
                    "texture": ["embedding", "logits", "timbre", "envelope"]}


@dataclass(frozen=True)
class HeadSpec:
    inputs: str = "embedding"           # logits | embedding | both
    classes: str = "kinds"              # binary | kinds
    hidden: int = 128
    anchor: float = 0.0
    hard: float = 0.0
    context: int = 1                    # rows the head reads: this one and context-1 before
    epochs: int = 12
    weight_decay: float = 1e-3
    dropout: float = 0.2
    source_power: float = 0.5
    dro: float = 0.0
    bag: int = 1
    blend: float = 0.0
    seed: int = 0

    @property
    def labels(self) -> tuple[str, ...]:
        return ("cry", "other") if self.classes == "binary" else KINDS


def features(emb: np.ndarray, logit: np.ndarray, inputs: str) -> np.ndarray:
    """The head's input columns from cached rows."""
    parts = {"logits": [logit], "embedding": [emb], "both": [emb, logit], "map": [emb],
             "block": [emb], "timbre": [emb, logit], "texture": [emb, logit]}[inputs]
    return np.concatenate([p.astype(np.float32) for p in parts], axis=1)


def targets(kind: np.ndarray, spec: HeadSpec) -> np.ndarray:
    """Class index per row (kind ids are ``KINDS`` indices; cry is 0 in both)."""
    return (kind != 0).astype(np.int64) if spec.classes == "binary" else kind.astype(np.int64)


def row_weights(kind: np.ndarray, source: np.ndarray, source_power: float = 0.5
                ) -> np.ndarray:
    """Cries and the rest weigh half each; among the rest, every kind by 1/sqrt(its rows)
    and every source by 1/(its rows ** source_power), so that one big library (Hedgewars'
    voices) does not stand for all of its kind."""
    w = np.zeros(len(kind))
    for mask in (kind == 0, kind != 0):
        sub = np.ones(mask.sum())
        for key, power in ((kind[mask], 0.5), (source[mask], source_power)):
            _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
            sub /= counts[inv] ** power
        w[mask] = 0.5 * sub / sub.sum()
    return w * len(w)


class Head:
    """A trained head: standardization, the network, and its spec."""

    def __init__(self, spec: HeadSpec, mean: np.ndarray, std: np.ndarray, net: Any) -> None:
        self.spec, self.mean, self.std, self.net = spec, mean, std, net

    def logits(self, emb: np.ndarray, logit: np.ndarray,
               segment: np.ndarray | None = None) -> np.ndarray:
        """Per row; ``segment`` ids (rows of one clip copy or stream share one) say where
        a context head's earlier rows stop (one long segment when None)."""
        import torch
        x = (features(emb, logit, self.spec.inputs) - self.mean) / self.std
        x = with_context(x.astype(np.float32), segment, self.spec.context)
        with torch.no_grad():
            out = self.net(torch.from_numpy(x.astype(np.float32))).numpy()
        if self.spec.anchor:
            out[:, 0] += self.spec.anchor * _anchor(logit)
        return out

    def cry_score(self, emb: np.ndarray, logit: np.ndarray,
                  segment: np.ndarray | None = None) -> np.ndarray:
        z = self.logits(emb, logit, segment)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p = p[:, 0] / p.sum(axis=1)
        if self.spec.blend:
            q = np.clip(p, 1e-7, 1 - 1e-7)
            mixed = (1 - self.spec.blend) * np.log(q / (1 - q)) \
                + self.spec.blend * _anchor(logit)
            p = 1 / (1 + np.exp(-mixed))
        return p


def with_context(x: np.ndarray, segment: np.ndarray | None, context: int) -> np.ndarray:
    """``[x_t, x_(t-1), ..., x_(t-context+1)]`` per row; rows before a segment's start are
    zeros (the standardized mean, as the exported model's initial state)."""
    if context == 1:
        return x
    seg = np.zeros(len(x), np.int64) if segment is None else segment
    parts = [x]
    for k in range(1, context):
        prev = np.zeros_like(x)
        prev[k:] = x[:-k]
        same = np.zeros(len(x), bool)
        same[k:] = seg[k:] == seg[:-k]
        prev[~same] = 0.0
        parts.append(prev)
    return np.concatenate(parts, axis=1)


def _anchor(logit: np.ndarray) -> np.ndarray:
    return logit[:, list(CRY_LOGITS)].astype(np.float32).max(axis=1)


def _net(d_in: int, spec: HeadSpec) -> Any:
    from torch import nn
    n_out = len(spec.labels)
    if spec.inputs == "block":
        return _block_net(spec, n_out)
    if not spec.hidden:
        return nn.Sequential(nn.Dropout(spec.dropout), nn.Linear(d_in, n_out))
    return nn.Sequential(nn.Dropout(spec.dropout), nn.Linear(d_in, spec.hidden), nn.ReLU(),
                         nn.Dropout(spec.dropout), nn.Linear(spec.hidden, n_out))


def train(emb: np.ndarray, logit: np.ndarray, kind: np.ndarray, source: np.ndarray,
          spec: HeadSpec, segment: np.ndarray | None = None) -> Head:
    """Fit a head on rows (``kind`` -1 rows are left out; a context head still reads
    them as earlier rows). ``segment``: see :meth:`Head.logits`."""
    x = features(emb, logit, spec.inputs)
    if spec.inputs == "block":            # the convolutions read YAMNet's own values
        mean, std = np.zeros(x.shape[1], np.float32), np.ones(x.shape[1], np.float32)
    else:
        mean, std = x[kind >= 0].mean(axis=0), x[kind >= 0].std(axis=0) + 1e-3
    x = with_context(((x - mean) / std).astype(np.float32), segment, spec.context)
    keep = kind >= 0
    x, emb, logit, kind, source = x[keep], emb[keep], logit[keep], kind[keep], source[keep]
    y = targets(kind, spec)
    w = row_weights(kind, source, spec.source_power)
    offset = spec.anchor * _anchor(logit) if spec.anchor else np.zeros(len(x), np.float32)
    group = np.unique(source, return_inverse=True)[1] if spec.dro else None
    net = _bagged(x, y, w, offset, spec, group)
    head = Head(spec, mean, std, net)
    if spec.hard:
        score = _softmax_cry(head, x, logit)
        hard = (kind != 0) & (score > np.quantile(score[kind != 0], 0.9))
        w = w * np.where(hard, spec.hard, 1.0)
        net = _bagged(x, y, w, offset, spec, group)
        head = Head(spec, mean, std, net)
    return head


def _softmax_cry(head: Head, x: np.ndarray, logit: np.ndarray) -> np.ndarray:
    """Cry scores of already standardized (and context-stacked) rows."""
    import torch
    with torch.no_grad():
        z = head.net(torch.from_numpy(x)).numpy()
    if head.spec.anchor:
        z[:, 0] += head.spec.anchor * _anchor(logit)
    z = z - z.max(axis=1, keepdims=True)
    return np.exp(z[:, 0]) / np.exp(z).sum(axis=1)


def _block_net(spec: HeadSpec, n_out: int) -> Any:
    """YAMNet's last depthwise-separable block (its weights, from the bundled flatbuffer)
    on the ``block12`` rows, mean-pooled, then the MLP."""
    import torch
    from torch import nn

    from streamser.models.yamnet import YAMNet

    class BlockHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            yamnet = YAMNet.from_tflite()
            self.dw, self.pw = yamnet.features[-2], yamnet.features[-1]
            self.mlp = nn.Sequential(nn.Dropout(spec.dropout), nn.Linear(EMB, spec.hidden),
                                     nn.ReLU(), nn.Dropout(spec.dropout),
                                     nn.Linear(spec.hidden, n_out))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # rows are (time 3, frequency 2, channels 1024), flattened: to NCHW
            maps = x.reshape(-1, 3, 2, EMB).permute(0, 3, 1, 2)
            return self.mlp(self.pw(self.dw(maps)).mean(dim=(2, 3)))

    return BlockHead()


def _bagged(x: np.ndarray, y: np.ndarray, w: np.ndarray, offset: np.ndarray,
            spec: HeadSpec, group: np.ndarray | None) -> Any:
    """One net, or for ``bag`` > 1 a linear head whose layer is the mean of ``bag`` heads
    fitted with different seeds (their mean logits: one linear layer)."""
    import torch
    if spec.bag <= 1:
        return _fit(x, y, w, offset, spec, group)
    if spec.hidden or spec.inputs == "block":
        raise ValueError("bag averages linear heads only")
    nets = [_fit(x, y, w, offset, replace(spec, seed=spec.seed + k), group)
            for k in range(spec.bag)]
    with torch.no_grad():
        for name, param in nets[0].named_parameters():
            param.copy_(torch.stack([dict(n.named_parameters())[name] for n in nets]).mean(0))
    return nets[0]


def _fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, offset: np.ndarray,
         spec: HeadSpec, group: np.ndarray | None = None) -> Any:
    """AdamW with a one-cycle schedule on the weighted cross-entropy; with ``group``
    (source ids) the weights are reweighted by group DRO after each epoch."""
    import torch
    import torch.nn.functional as F
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    net = _net(x.shape[1], spec)
    slow = [p for n, p in net.named_parameters() if n.startswith(("dw.", "pw."))]
    fast = [p for n, p in net.named_parameters() if not n.startswith(("dw.", "pw."))]
    opt = torch.optim.AdamW([{"params": fast}, {"params": slow, "lr": 2e-4}], lr=2e-3,
                            weight_decay=spec.weight_decay)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    W, O = torch.from_numpy(w.astype(np.float32)), torch.from_numpy(offset.astype(np.float32))
    steps = spec.epochs * (len(x) // 512 + 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, [2e-3, 2e-4][:len(opt.param_groups)],
                                                total_steps=steps)
    q = None if group is None else np.ones(group.max() + 1)
    net.train()
    for _ in range(spec.epochs):
        for idx in np.array_split(rng.permutation(len(x)), len(x) // 512 + 1):
            i = torch.from_numpy(idx)
            z = net(X[i])
            z = torch.cat([z[:, :1] + O[i, None], z[:, 1:]], dim=1)
            loss = (F.cross_entropy(z, Y[i], reduction="none") * W[i]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if q is not None:
            net.eval()
            with torch.no_grad():
                z = net(X)
                z = torch.cat([z[:, :1] + O[:, None], z[:, 1:]], dim=1)
                per_row = F.cross_entropy(z, Y, reduction="none").numpy()
            net.train()
            mean_loss = np.bincount(group, per_row) / np.maximum(np.bincount(group), 1)
            q = q * np.exp(spec.dro * mean_loss)
            q *= len(q) / q.sum()
            W = torch.from_numpy((w * q[group]).astype(np.float32))
            W *= len(w) / W.sum()
    net.eval()
    return net


def write_onnx(head: Head, path: Path, name: str, meta: dict[str, Any]) -> Path:
    """The head as a float ONNX ``infer`` model: ``x`` (a ``features.yamnet`` row of
    ``BACKBONE_OUTPUTS[spec.inputs]``) -> ``probs`` (softmax over ``spec.labels``). Standardization goes
    into the contract's normalizer; the anchor into the graph."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from streamser import __version__
    from streamser.plugins.infer.contract import FORMAT, METADATA_KEY
    spec = head.spec
    if spec.blend:
        raise ValueError("a blended head is an evaluation lever (benchmarks/det.py); "
                         "it has no ONNX export")
    layers = [m for m in (head.net.mlp if spec.inputs == "block" else head.net)
              if hasattr(m, "weight")]
    first = _first_width(spec)
    d_in = first + LOGITS + OWN.get(spec.inputs, 0)
    cols = _columns(spec)
    inits, nodes = [numpy_helper.from_array(cols.astype(np.int64), "cols")], []
    nodes.append(helper.make_node("Gather", ["x", "cols"], ["h0"], axis=1))
    prev, inputs, outputs, states = "h0", [], [], []
    k, d_sel = spec.context, len(cols)
    if k > 1:       # state: the k-1 rows before this one, newest first (zeros at start)
        inits += [numpy_helper.from_array(np.array([1], np.int64), "axis1"),
                  numpy_helper.from_array(np.array([-1, k * d_sel], np.int64), "flat"),
                  numpy_helper.from_array(np.array([0], np.int64), "zero"),
                  numpy_helper.from_array(np.array([k - 1], np.int64), "keep")]
        nodes += [helper.make_node("Unsqueeze", ["h0", "axis1"], ["h0u"]),
                  helper.make_node("Concat", ["h0u", "state_0"], ["stack"], axis=1),
                  helper.make_node("Reshape", ["stack", "flat"], ["hk"]),
                  helper.make_node("Slice", ["stack", "zero", "keep", "axis1"],
                                   ["new_state_0"])]
        inputs.append(helper.make_tensor_value_info("state_0", TensorProto.FLOAT,
                                                    [None, k - 1, d_sel]))
        outputs.append(helper.make_tensor_value_info("new_state_0", TensorProto.FLOAT,
                                                     [None, k - 1, d_sel]))
        states.append({"name": "state_0", "output": "new_state_0", "shape": [k - 1, d_sel]})
        prev = "hk"
    if spec.inputs == "block":
        if k > 1:
            raise ValueError("a block head takes no context")
        dw, pw = head.net.dw, head.net.pw
        inits += [numpy_helper.from_array(np.array([-1, 3, 2, EMB], np.int64), "map_shape"),
                  numpy_helper.from_array(dw.weight.detach().numpy(), "dw_w"),
                  numpy_helper.from_array(dw.bias.detach().numpy(), "dw_b"),
                  numpy_helper.from_array(pw.weight.detach().numpy(), "pw_w"),
                  numpy_helper.from_array(pw.bias.detach().numpy(), "pw_b"),
                  numpy_helper.from_array(np.array(0, np.float32), "relu_lo"),
                  numpy_helper.from_array(np.array(6, np.float32), "relu_hi")]
        nodes += [helper.make_node("Reshape", ["h0", "map_shape"], ["map"]),
                  helper.make_node("Transpose", ["map"], ["nchw"], perm=[0, 3, 1, 2]),
                  helper.make_node("Conv", ["nchw", "dw_w", "dw_b"], ["dwc"],
                                   group=EMB, pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
                  helper.make_node("Clip", ["dwc", "relu_lo", "relu_hi"], ["dwr"]),
                  helper.make_node("Conv", ["dwr", "pw_w", "pw_b"], ["pwc"],
                                   kernel_shape=[1, 1]),
                  helper.make_node("Clip", ["pwc", "relu_lo", "relu_hi"], ["pwr"]),
                  helper.make_node("ReduceMean", ["pwr"], ["pooled"], axes=[2, 3],
                                   keepdims=0)]
        prev = "pooled"
    for k, layer in enumerate(layers):
        w = layer.weight.detach().numpy().T.astype(np.float32)
        b = layer.bias.detach().numpy().astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(b, f"b{k}")]
        nodes += [helper.make_node("MatMul", [prev, f"w{k}"], [f"m{k}"]),
                  helper.make_node("Add", [f"m{k}", f"b{k}"], [f"a{k}"])]
        prev = f"a{k}"
        if k < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [prev], [f"r{k}"]))
            prev = f"r{k}"
    if spec.anchor:
        # the normalizer standardized x: undo it for the two cry logits
        idx = np.array([first + c for c in CRY_LOGITS], np.int64)
        inits += [numpy_helper.from_array(idx, "cry_idx"),
                  numpy_helper.from_array(_full_std(head)[idx], "cry_std"),
                  numpy_helper.from_array(_full_mean(head)[idx], "cry_mean"),
                  numpy_helper.from_array(np.array([spec.anchor], np.float32), "anchor"),
                  numpy_helper.from_array(
                      np.eye(len(spec.labels), dtype=np.float32)[:1], "onehot")]
        nodes += [helper.make_node("Gather", ["x", "cry_idx"], ["zs_n"], axis=1),
                  helper.make_node("Mul", ["zs_n", "cry_std"], ["zs_s"]),
                  helper.make_node("Add", ["zs_s", "cry_mean"], ["zs"]),
                  helper.make_node("ReduceMax", ["zs"], ["zs_max"], axes=[1], keepdims=1),
                  helper.make_node("Mul", ["zs_max", "anchor"], ["zs_w"]),
                  helper.make_node("MatMul", ["zs_w", "onehot"], ["zs_row"]),
                  helper.make_node("Add", [prev, "zs_row"], ["anchored"])]
        prev = "anchored"
    nodes.append(helper.make_node("Softmax", [prev], ["probs"], axis=1))
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, d_in]), *inputs],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT,
                                       [None, len(spec.labels)]), *outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    contract = {"format": FORMAT, "streamser": __version__, "name": name, "arch": "cry_head",
                "task": "baby cry detection per 0.96 s patch on YAMNet's rows",
                "labels": list(spec.labels), "build": "float", "mode": "step",
                "x": [d_in], "states": states,
                "frontend": {"features": [{"plugin": "features.logmel", "params": {}}],
                             "rate": 16000, "patch": {"hop": meta.get("hop", 0.48)},
                             "backbone": {"plugin": "features.yamnet", "params": {
                                 "outputs": BACKBONE_OUTPUTS[spec.inputs]}}},
                "normalizer": {"mean": _full_mean(head).tolist(),
                               "std": _full_std(head).tolist()},
                "steps_per_second": round(1 / meta.get("hop", 0.48), 6),
                "head": asdict(spec), **meta}
    onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(contract)})
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _columns(spec: HeadSpec) -> np.ndarray:
    """The backbone row's columns the head reads, in the order it was trained on."""
    first = _first_width(spec)
    logits = np.arange(first, first + LOGITS)
    return {"logits": logits, "embedding": np.arange(first),
            "both": np.arange(first + LOGITS), "map": np.arange(first),
            "block": np.arange(first),
            "timbre": np.r_[np.arange(first + LOGITS, first + LOGITS + TIMBRE), logits],
            "texture": np.r_[np.arange(first + LOGITS, first + LOGITS + TIMBRE + ENVELOPE),
                             logits]}[spec.inputs]


def _first_width(spec: HeadSpec) -> int:
    """Columns of the backbone row before its 521 logits."""
    return MAP if spec.inputs in ("map", "block") else EMB


def _full_mean(head: Head) -> np.ndarray:
    return _full(head, head.mean, 0.0)


def _full_std(head: Head) -> np.ndarray:
    return _full(head, head.std, 1.0)


def _full(head: Head, values: np.ndarray, fill: float) -> np.ndarray:
    """Per-column values over the whole ``embedding + logits`` row (unused columns get
    ``fill``)."""
    width = _first_width(head.spec) + LOGITS + OWN.get(head.spec.inputs, 0)
    full = np.full(width, fill, np.float32)
    full[_columns(head.spec)] = values
    return full


def own_rows(cache: Path, inputs: str) -> np.ndarray:
    """What ``inputs`` (``timbre`` or ``texture``) reads from every cached training row's
    log-mel patch (``train_logmel.npz``: ``python -m streamser.train.cryembed --what
    logmel``)."""
    with np.load(cache / "train_logmel.npz") as m:
        return patch_columns(m["mel"], inputs)


def patch_columns(mel: np.ndarray, inputs: str) -> np.ndarray:
    """The columns ``inputs`` computes from log-mel patches: the timbre, and for
    ``texture`` the loudness envelope after it."""
    from streamser.dsp.timbre import envelope, timbre
    parts = [timbre(mel)] + ([envelope(mel)] if inputs == "texture" else [])
    return np.concatenate(parts, axis=1)


def excluded_items(data: dict[str, np.ndarray], sources: str, cry_folds: str,
                   root: str) -> np.ndarray:
    """Per cached item: left out by ``--exclude-sources`` (names matched against each
    clip's corpus source and group, read from the corpus manifests under ``root``) or
    ``--exclude-cry-folds``."""
    names = set()
    if sources.startswith("@"):
        names = {x.strip() for x in Path(sources[1:]).read_text().splitlines() if x.strip()}
    elif sources:
        names = {x.strip() for x in sources.split(",") if x.strip()}
    out = np.zeros(len(data["paths"]), bool)
    if names:
        from .crycorpus import read_corpus
        groups = {str(Path(i.path).resolve()): {i.source, i.group} for i in read_corpus(root)}
        unknown = names - set().union(*groups.values())
        if unknown:
            raise SystemExit(f"--exclude-sources: not in {root}: {', '.join(sorted(unknown))}")
        out |= np.array([bool(groups.get(str(Path(p).resolve()), {s}) & names)
                         for p, s in zip(data["paths"], data["sources"])])
    folds = {int(f) for f in cry_folds.split(",") if f.strip()}
    if folds:
        cry_item = np.zeros(len(out), bool)
        cry_item[data["item"][data["y"] == 0]] = True
        out |= cry_item & np.isin(data["folds"], list(folds))
    return out


def main(argv: list[str] | None = None) -> None:
    """Train the shipped head on every fold of the cache and write it as ONNX + JSON."""
    import argparse
    import hashlib
    from datetime import date
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--cache", default=str(Path.home() / ".cache/streamser/cry"))
    ap.add_argument("--out", required=True, help="NAME.onnx (NAME.json is written beside it)")
    ap.add_argument("--inputs", default=HeadSpec.inputs)
    ap.add_argument("--classes", default=HeadSpec.classes)
    ap.add_argument("--hidden", type=int, default=HeadSpec.hidden)
    ap.add_argument("--anchor", type=float, default=HeadSpec.anchor)
    ap.add_argument("--hard", type=float, default=HeadSpec.hard)
    ap.add_argument("--hop", type=float, default=0.48)
    ap.add_argument("--smoothing", default="{}", help="the graph's smooth.hysteresis params "
                                                     "(JSON), recorded in the metadata")
    ap.add_argument("--exclude-sources", default="", metavar="NAME,...|@FILE",
                    help="leave out every clip whose corpus source or group (a voice) is "
                         "one of these (a head that never heard them)")
    ap.add_argument("--exclude-cry-folds", default="", metavar="F,...",
                    help="leave out the cry clips of these folds")
    ap.add_argument("--data", default="../shared/data",
                    help="the corpus (for --exclude-sources: its groups)")
    a = ap.parse_args(argv)
    spec = HeadSpec(inputs=a.inputs, classes=a.classes, hidden=a.hidden, anchor=a.anchor,
                    hard=a.hard)
    data = dict(np.load(Path(a.cache).expanduser() / "train.npz"))
    dropped = excluded_items(data, a.exclude_sources, a.exclude_cry_folds, a.data)
    keep = ~dropped[data["item"]]
    sources = data["sources"][data["item"]]
    first = own_rows(Path(a.cache).expanduser(), spec.inputs) if spec.inputs in OWN \
        else data["emb"]
    head = train(first[keep], data["logit"][keep], data["y"][keep], sources[keep], spec)
    out = Path(a.out)
    name = out.name.split(".")[0]
    meta = {"hop": a.hop, "saved": date.today().isoformat(),
            "training": {"command": "python -m streamser.train.cryhead " + " ".join(
                argv if argv is not None else __import__("sys").argv[1:]),
                "rows": int((data["y"][keep] >= 0).sum()),
                "clips": int(len(data["paths"]) - dropped.sum()),
                "data": "every corpus of ../shared/data (cryembed.py), all five folds"
                        + (f", less {int(dropped.sum())} clips (--exclude-*)"
                           if dropped.any() else "")},
            "smoothing": json.loads(a.smoothing), "license_data": "see NOTICE"}
    write_onnx(head, out, name, meta)
    size = out.stat().st_size
    (out.parent / f"{name}.json").write_text(json.dumps({
        "format": "streamser-bundled/1", "name": name, "arch": "cry_head",
        "task": "baby cry detection per 0.96 s patch on YAMNet's rows (features.yamnet)",
        "labels": list(spec.labels), "hparams": asdict(spec),
        "frontend": {"features": [{"plugin": "features.logmel", "params": {}}],
                     "rate": 16000, "patch": {"hop": a.hop}},
        "size_bytes": size, "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "parameters": sum(int(p.numel()) for p in head.net.parameters()),
        "license": "MIT (the head); its backbone YAMNet is Apache-2.0 and its training "
                   "data carry their own terms: see NOTICE", "notice": "NOTICE",
        **{k: v for k, v in meta.items() if k != "hop"}}, indent=1) + "\n")
    print(f"wrote {out} ({size / 1024:.0f} KiB) and {name}.json")


if __name__ == "__main__":
    main()
