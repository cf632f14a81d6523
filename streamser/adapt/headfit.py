"""Re-fit the detector head's last layer with a home's rows (numpy and onnxruntime only).

The head is an ONNX ``infer`` model ending ``... -> hidden -> MatMul(W) -> Add(b) [-> Add
(an anchor term)] -> Softmax -> probs`` (:func:`streamser.train.cryhead.write_onnx`).
:class:`OnnxHead` finds ``W``, ``b`` and the hidden tensor, and runs the model with the
hidden activations and the pre-softmax logits as extra outputs; whatever the graph adds
to ``hidden @ W + b`` before the softmax (an anchor on YAMNet's cry logits) is kept as a
fixed per-row offset. :func:`fit_layer` re-fits ``W`` and ``b`` by full-batch Adam on a
weighted cross-entropy with L2 toward the original layer (what the head knew is kept
where the home says nothing), and :meth:`OnnxHead.write` saves the adapted head: the
same graph and contract (labels, cry first, normalizer, states), new ``W`` and ``b``.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np



def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class OnnxHead:
    """An ONNX head split at its last layer: ``w`` ``(H, K)``, ``b`` ``(K,)``."""

    def __init__(self, path: str | Path) -> None:
        import onnx
        from onnx import numpy_helper

        from streamser.plugins.infer.contract import METADATA_KEY, ModelContract
        self.path = Path(path)
        if self.path.suffix != ".onnx":
            raise ValueError(f"{path}: adapt re-fits float ONNX heads only (build: .onnx)")
        self.model = onnx.load(str(self.path))
        props = {p.key: p.value for p in self.model.metadata_props}
        if METADATA_KEY not in props:
            raise ValueError(f"{path}: no streamser contract in the model")
        self.meta: dict[str, Any] = json.loads(props[METADATA_KEY])
        self.contract = ModelContract.from_json(props[METADATA_KEY], str(path))
        g = self.model.graph
        inits = {i.name: i for i in g.initializer}
        made = {o: n for n in g.node for o in n.output}
        soft = made.get("probs")
        if soft is None or soft.op_type != "Softmax":
            raise ValueError(f"{path}: its 'probs' is not a Softmax")
        self.logits_name = soft.input[0]
        k = len(self.contract.labels)
        todo, found = [self.logits_name], None
        while todo and found is None:
            node = made.get(todo.pop(0))
            if node is None or node.op_type != "Add":
                continue
            for i, j in ((0, 1), (1, 0)):
                bias, other = node.input[i], node.input[j]
                mm = made.get(other)
                if (bias in inits and tuple(inits[bias].dims) == (k,) and mm is not None
                        and mm.op_type == "MatMul" and mm.input[1] in inits
                        and tuple(inits[mm.input[1]].dims)[1:] == (k,)):
                    found = (mm.input[0], mm.input[1], bias)
                    break
            else:
                todo += [t for t in node.input if t not in inits]
        if found is None:
            raise ValueError(f"{path}: no last layer (MatMul + Add of width {k}) before "
                             "its softmax")
        self.hidden_name, self.w_name, self.b_name = found
        self.w0 = numpy_helper.to_array(inits[self.w_name]).astype(np.float32)
        self.b0 = numpy_helper.to_array(inits[self.b_name]).astype(np.float32)
        self._session: Any = None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.contract.labels)

    def _probe(self) -> Any:
        if self._session is None:
            import onnxruntime as ort
            from onnx import TensorProto, helper
            probe = type(self.model)()
            probe.CopyFrom(self.model)
            probe.graph.output.extend(
                [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
                 for n in (self.hidden_name, self.logits_name)])
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            self._session = ort.InferenceSession(probe.SerializeToString(), opts,
                                                 providers=["CPUExecutionProvider"])
        return self._session

    def hidden(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(hidden, offset)`` of one sequence of backbone rows (one stream from a fresh
        state): ``logits = hidden @ w + b + offset``."""
        sess = self._probe()
        x = self.contract.normalize(np.asarray(rows, np.float32))
        outs = [self.hidden_name, self.logits_name]
        if not len(x):
            return (np.zeros((0, self.w0.shape[0]), np.float32),
                    np.zeros((0, len(self.b0)), np.float32))
        if not self.contract.states:
            h, z = sess.run(outs, {"x": x})
        else:
            states = self.contract.initial_states(1)
            names = [s.name for s in self.contract.states]
            news = [s.output for s in self.contract.states]
            hs, zs = [], []
            for row in x:
                r = sess.run(outs + news, {"x": row[None], **dict(zip(names, states))})
                hs.append(r[0].reshape(1, -1))
                zs.append(r[1].reshape(1, -1))
                states = r[2:]
            h, z = np.concatenate(hs), np.concatenate(zs)
        h = h.reshape(len(x), -1).astype(np.float32)
        z = z.reshape(len(x), -1).astype(np.float32)
        return h, (z - (h @ self.w0 + self.b0)).astype(np.float32)

    def write(self, path: Path, w: np.ndarray, b: np.ndarray,
              meta: dict[str, Any]) -> Path:
        """The head with layer ``(w, b)`` and ``meta`` added to its contract's
        ``adapted``."""
        import onnx
        from onnx import numpy_helper

        from streamser.plugins.infer.contract import METADATA_KEY
        out = type(self.model)()
        out.CopyFrom(self.model)
        for init in out.graph.initializer:
            if init.name == self.w_name:
                init.CopyFrom(numpy_helper.from_array(w.astype(np.float32), self.w_name))
            elif init.name == self.b_name:
                init.CopyFrom(numpy_helper.from_array(b.astype(np.float32), self.b_name))
        contract = {**self.meta, "adapted": meta}
        del out.metadata_props[:]
        onnx.helper.set_model_props(out, {METADATA_KEY: json.dumps(contract)})
        onnx.checker.check_model(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        onnx.save(out, str(tmp))
        tmp.replace(path)
        return path


def fit_layer(h: np.ndarray, offset: np.ndarray, target: np.ndarray, weight: np.ndarray,
              w_ref: np.ndarray, b_ref: np.ndarray, l2: float, steps: int,
              w_init: np.ndarray | None = None, b_init: np.ndarray | None = None,
              lr: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """``(w, b)`` minimizing ``sum_i weight_i * CE(softmax(h_i w + b + offset_i),
    target_i) + l2/2 * (|w - w_ref|^2 + |b - b_ref|^2)`` (``target`` rows are
    distributions, ``weight`` is normalized to sum 1) by full-batch Adam from
    ``(w_init, b_init)`` (the reference by default)."""
    h64, off = h.astype(np.float64), offset.astype(np.float64)
    t = target.astype(np.float64)
    wt = (weight / weight.sum()).astype(np.float64)[:, None]
    w = (w_ref if w_init is None else w_init).astype(np.float64).copy()
    b = (b_ref if b_init is None else b_init).astype(np.float64).copy()
    wr, br = w_ref.astype(np.float64), b_ref.astype(np.float64)
    params = [w, b]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for step in range(1, steps + 1):
        dz = (softmax(h64 @ w + b + off) - t) * wt
        grads = [h64.T @ dz + l2 * (w - wr), dz.sum(axis=0) + l2 * (b - br)]
        for p, g, mi, vi in zip(params, grads, m, v):
            mi *= 0.9
            mi += 0.1 * g
            vi *= 0.999
            vi += 0.001 * g * g
            p -= lr * (mi / (1 - 0.9 ** step)) / (np.sqrt(vi / (1 - 0.999 ** step)) + 1e-8)
    return w.astype(np.float32), b.astype(np.float32)


def not_cry(probs: np.ndarray, cry: int) -> np.ndarray:
    """Targets for rows known not to be cries: the head's own scores with the cry share
    handed to the other kinds in proportion (its nearest non-cry kinds)."""
    t = np.asarray(probs, np.float64).copy()
    t[:, cry] = 0.0
    s = t.sum(axis=1, keepdims=True)
    flat = np.full_like(t, 1.0 / max(t.shape[1] - 1, 1))
    flat[:, cry] = 0.0
    return np.where(s > 1e-9, t / np.maximum(s, 1e-12), flat)


def one_hot(n: int, k: int, col: int) -> np.ndarray:
    t = np.zeros((n, k))
    t[:, col] = 1.0
    return t


def stack(parts: Sequence[np.ndarray], width: int) -> np.ndarray:
    return np.concatenate(list(parts)) if parts else np.zeros((0, width), np.float32)
