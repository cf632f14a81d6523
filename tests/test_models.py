"""The model zoo: shapes, padding, streaming == forward, the papers' parameter checks."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from streamser.models import ARCHITECTURES, build, count_parameters
from streamser.models.agate import AttentionGateCell, agate_layer_parameters
from streamser.models.ctc import ctc_greedy_decode
from streamser.models.vggish import VGGishCNN

CASES = [("agate_lstm", 12, {}), ("agate_lstm", 12, {"depth": 3}), ("lstm", 12, {}),
         ("gru", 12, {}), ("bilstm_att", 12, {}), ("dblmm", 109, {}),
         ("dblmm", 109, {"branches": [1]}), ("blstm_ctc", 40, {"attention": "none"}),
         ("blstm_ctc", 40, {"attention": "local"}), ("blstm_ctc", 40, {"attention": "component"}),
         ("blstm_ctc", 40, {"attention": "quantum"}), ("sae_blstm", 129, {}),
         ("vggish_lstm", 64, {}), ("vggish_lstm", 64, {"recurrent": "agate"})]
STREAMING = [c for c in CASES if c[0] in ("agate_lstm", "lstm", "gru")] + \
    [("vggish_lstm", 64, {"recurrent": "agate"})]


def batch(arch: str, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    if arch == "vggish_lstm":
        return torch.randn(3, 4, 96, dim), torch.tensor([4, 2, 1])
    return torch.randn(3, 30, dim), torch.tensor([30, 17, 5])


@pytest.mark.parametrize("arch,dim,hp", CASES, ids=lambda c: str(c))
def test_shapes_padding_and_every_stage_trains(arch: str, dim: int, hp: dict) -> None:
    model = build(arch, dim, 5, **hp)
    x, lengths = batch(arch, dim)
    model.eval()
    logits = model(x, lengths)
    assert logits.shape == (3, 5) and torch.isfinite(logits).all()
    alone = model(x[1:2, : int(lengths[1])], lengths[1:2])   # the padding changes nothing
    assert torch.allclose(alone, logits[1:2], atol=1e-5)
    model.train()
    for stage in model.stages:
        params = list(model.parameters_for(stage))
        assert params
        loss = model.loss(x, lengths, torch.tensor([0, 1, 4]), torch.ones(5), stage=stage)
        assert torch.isfinite(loss)
        model.zero_grad()
        loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    again = build(arch, dim, 5, **model.hparams)
    again.load_state_dict(model.state_dict(), strict=True)


@pytest.mark.parametrize("arch,dim,hp", STREAMING, ids=lambda c: str(c))
def test_step_equals_forward(arch: str, dim: int, hp: dict) -> None:
    model = build(arch, dim, 4, **hp).eval()
    assert model.streaming
    x, lengths = batch(arch, dim)
    with torch.no_grad():
        state = model.initial_state(3)
        steps = []
        for t in range(x.shape[1]):
            logits, state = model.step(x[:, t], state)
            steps.append(logits)
        steps = torch.stack(steps, 1)
        assert torch.allclose(steps, model.forward_steps(x), atol=1e-5)
        last = steps[torch.arange(3), lengths - 1]
        assert torch.allclose(last, model(x, lengths), atol=1e-5)


def test_m1_parameter_count_is_the_papers() -> None:
    cell = AttentionGateCell(512, 256, depth=1, bias=False)
    n = count_parameters(cell)
    assert n == 768 * 512 + 2 * 256 * 256 == 524_288 == agate_layer_parameters(512, 256)
    peephole_lstm = 4 * (512 + 256) * 256 + 3 * 256      # 4 gates + 3 peephole vectors
    assert peephole_lstm == 787_200                      # the paper's comparison figure
    assert count_parameters(AttentionGateCell(512, 256, depth=3, bias=False)) == n


def test_m1_depth_one_is_eq_10_11() -> None:
    torch.manual_seed(1)
    cell = AttentionGateCell(6, 4, depth=1, bias=True)
    x, h, c = torch.randn(2, 6), torch.randn(2, 4), torch.randn(2, 4)
    w_oc, b_oc = cell.oc.weight, cell.oc.bias
    hx = torch.cat((h, x), -1)
    o = torch.sigmoid(hx @ w_oc[:4].T + b_oc[:4])
    cand = torch.tanh(hx @ w_oc[4:].T + b_oc[4:])
    a = torch.sigmoid(cell.V.weight @ torch.tanh(cell.W.weight @ c.T)).T    # eq. 10
    c_new = a * c + (1 - a) * cand                                           # eq. 11
    h_new, state = cell.step(x, (h, c))
    assert torch.allclose(state[1], c_new, atol=1e-6)
    assert torch.allclose(h_new, o * torch.tanh(c_new), atol=1e-6)


def test_vggish_cnn_at_paper_width_is_vggish_sized() -> None:
    cnn = VGGishCNN([64, 128, 256, 256, 512, 512], [4096, 4096], 128)
    # VGGish: 4.5 M in the convolutions, 12288*4096 + 4096*4096 + 4096*128 in the FCs
    assert abs(count_parameters(cnn) - 72.1e6) / 72.1e6 < 0.01
    assert cnn(torch.zeros(2, 96, 64)).shape == (2, 128)


def test_ctc_greedy_decoding_and_training() -> None:
    blank = 3
    path = [0, 0, blank, 0, 1, 1, blank, blank, 2]
    logp = torch.log(torch.nn.functional.one_hot(torch.tensor([path]), 4).float() + 1e-4)
    assert ctc_greedy_decode(logp, torch.tensor([9])) == [[0, 0, 1, 2]]
    assert ctc_greedy_decode(logp, torch.tensor([3])) == [[0]]
    torch.manual_seed(0)
    model = build("blstm_ctc", 8, 3, hidden=8, frames_per_label=10)
    x = torch.randn(6, 40, 8)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    x[torch.arange(6), :, y] += 2.0            # the class shows in one feature
    lengths = torch.full((6,), 40)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(110):                       # CTC first learns blanks, then labels
        loss = model.loss(x, lengths, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    assert (model(x, lengths).argmax(-1) == y).float().mean() >= 5 / 6


def test_sae_pca_and_pretraining() -> None:
    torch.manual_seed(0)
    model = build("sae_blstm", 20, 3, pca=6, kernels_per_width=4)
    seqs = [np.random.default_rng(i).standard_normal((50, 20)).astype(np.float32)
            for i in range(4)]
    model.prepare(seqs)
    p = model.pca_components
    assert torch.allclose(p @ p.T, torch.eye(6), atol=1e-5)
    x, lengths = torch.from_numpy(np.stack(seqs)), torch.full((4,), 50)
    opt = torch.optim.Adam(model.parameters_for("sae"), lr=0.01)
    losses = []
    for _ in range(40):
        loss = model.loss(x, lengths, torch.zeros(4, dtype=torch.long), stage="sae")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    assert not set(map(id, model.parameters_for("main"))) & set(map(id, model.convs.parameters()))


def test_build_rejects_unknown_arch_and_hparams() -> None:
    with pytest.raises(ValueError, match="unknown model architecture 'nope'"):
        build("nope", 3, 2)
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        build("agate_lstm", 3, 2, colour=1)
    assert set(ARCHITECTURES) == {"agate_lstm", "lstm", "gru", "bilstm_att", "dblmm",
                                  "blstm_ctc", "vggish_lstm", "sae_blstm", "yamnet_lstm"}


def test_spliced_training_learns_to_switch_class_within_a_stream() -> None:
    """With ``splice``, a streaming model trains on clips joined end to end (per-step
    labels), so its running output changes class where the input does; trained on single
    clips it has never seen a change. Toy data: class = sign of the input's mean."""
    from streamser.train.recipe import TrainSpec
    from streamser.train.trainer import fit

    rng = np.random.default_rng(0)
    y = np.arange(64) % 2
    items = [(rng.normal(0, 0.3, (12, 4)) + (1 if c else -1)).astype(np.float32) for c in y]
    spec = TrainSpec(epochs=40, batch=16, lr=0.02, patience=40, val_fraction=0, splice=2)
    model = build("agate_lstm", 4, 2, hidden=[8], dense=[], dropout=0.0)
    fit(model, items, y, [], np.zeros(0, int), spec, ["neg", "pos"])
    joined = torch.from_numpy(np.concatenate([items[0], items[1]])[None])   # neg then pos
    with torch.no_grad():
        steps = model.forward_steps(joined)[0].argmax(-1).numpy()
    assert (steps[:12] == 0).mean() >= 0.9 and (steps[-6:] == 1).all()


def test_unrolled_lstm_equals_the_module_and_stacks_in_small_joins() -> None:
    """The TFLite-export spelling of an LSTM (step by step, joins of at most 8) gives the
    module's numbers, for 1-2 layers, one or two directions, any length."""
    import torch
    from torch import nn

    from streamser.models.unroll import MAX_CONCAT, stack_steps, unrolled

    torch.manual_seed(0)
    for steps in (1, 8, 9, 65, 200):
        parts = [torch.randn(2, 3) for _ in range(steps)]
        assert torch.equal(stack_steps(parts), torch.stack(parts, 1))
    with pytest.raises(ValueError, match="at most"):
        stack_steps([torch.zeros(1, 2)] * (MAX_CONCAT ** 3 + 1))
    for layers, bidirectional in ((1, True), (2, True), (1, False)):
        rnn = nn.LSTM(5, 7, layers, batch_first=True, bidirectional=bidirectional)
        x = torch.randn(3, 23, 5)
        with torch.no_grad():
            assert torch.allclose(unrolled(rnn, x), rnn(x)[0], atol=1e-6)
