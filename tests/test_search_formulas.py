"""The formulas of the differentiable searches, pinned: E[LAT] against `lutnas predict`, each latency
loss against its formula on numbers worked by hand, ProxylessNAS's gate gradient against
BinaryConnect's, the rescaling and Adam's beta1 = 0, FBNet's temperature schedule and Gumbel-masked
latency, the epoch plans, and the rule that architecture steps never see the training split.

Tables are synthetic (lutnas.latency_tables.synthetic) or typed in; searches run a few batches of a
small .npz at 32 px.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lutnas.latency_tables.dense import DenseTable
from lutnas.latency_tables.synthetic import synthetic_table
from lutnas.search import dnas, fbnet, proxyless
from lutnas.search.base import SearchOptions
from lutnas.search.data import load_data
from lutnas.search.latency_loss import ExpectedLatency, make_objective
from lutnas.search.runner import run_search
from lutnas.search.supernet import LayerMix, mixed_output
from lutnas.spaces import get_space

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # conftest.py: tiny tensors, one thread


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory):
    """60 random 12x12 images; label = image index, so a label names the image it came from."""
    path = tmp_path_factory.mktemp("data") / "small.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.random((60, 3, 12, 12)).astype(np.float32), y=np.arange(60))
    return path


def options(**kw) -> SearchOptions:
    base = {"latency_ms": 5.0, "epochs": 2, "batch_size": 8, "progress": False}
    base.update(kw)
    return SearchOptions(**base)


def hand_table(fixed_ms: float = 3.0, scale: float = 1.0) -> DenseTable:
    lat = np.array([[1.0, 2.0, np.nan], [0.0, 4.0, 6.0]]) * scale
    return DenseTable(space="hand", resolution=8, fixed_ms=fixed_ms, fixed_var_ms2=0.0, latency_ms=lat,
                      var_ms2=np.where(np.isnan(lat), np.nan, 0.0), num_choices=np.array([2, 3]))


HAND_PROBS = torch.tensor([[0.25, 0.75, 0.0], [0.5, 0.25, 0.25]], dtype=torch.float64)


@pytest.mark.parametrize("space_name", ["proxyless", "fbnet", "ofa-mbv3"])
def test_expected_latency_of_a_one_hot_choice_is_predict(space_name):
    """E[LAT] at a one-hot choice is exactly fixed + the chosen entries added in layer order, and equals
    `DenseTable.predict` to the last bits: predict's numba kernel is compiled with fastmath `reassoc`, so
    LLVM may regroup its additions (1-2 ulp apart here); a dropped fixed cost or a shifted column is
    off by at least the smallest entry (>= 1e-3 relative)."""
    space = get_space(space_name)
    table = synthetic_table(space, seed=3, fixed_ms=1.7)
    term = ExpectedLatency(table)
    rng = np.random.default_rng(0)
    archs = np.asarray([space.sample(rng) for _ in range(40)], dtype=np.int64)
    predicted = table.predict(archs).latency_ms
    for arch, want in zip(archs, predicted):
        in_order = table.fixed_ms
        for layer, choice in enumerate(arch):
            in_order += table.latency_ms[layer, choice]
        one_hot = torch.zeros(term.lut.shape, dtype=torch.float64)
        one_hot[np.arange(len(arch)), arch] = 1.0
        assert float(term.from_probs(one_hot)) == in_order
        logits = torch.full(term.lut.shape, -1e4, dtype=torch.float32)   # softmax underflows to one-hot
        logits[np.arange(len(arch)), arch] = 1e4
        assert float(term(logits)) == in_order
        assert term.of_arch(arch) == in_order
        assert in_order == pytest.approx(float(want), rel=1e-14, abs=0)


def test_expected_latency_hand_computed():
    term = ExpectedLatency(hand_table())
    assert float(term.from_probs(HAND_PROBS)) == 3.0 + (0.25 * 1 + 0.75 * 2) + (0.25 * 4 + 0.25 * 6)   # 7.25


@pytest.mark.parametrize("mode,want", [
    ("none", 1.5),
    ("fbnet", 1.5 * 0.2 * math.log(7.25) ** 0.6),
    ("mul#log", 0.2 * 1.5 * (math.log(7.25) / math.log(5.0)) ** 0.3),
    ("add#linear", 1.5 + 0.1 * (7.25 - 5.0) / 5.0),
])
def test_each_latency_loss_is_its_formula(mode, want):
    table = hand_table()
    objective = make_objective(mode, table, ref_ms=5.0)
    ce = torch.tensor(1.5, dtype=torch.float64)
    got = objective(ce, ExpectedLatency(table).from_probs(HAND_PROBS))
    assert float(got) == pytest.approx(want, rel=1e-12)


def test_log_losses_rescale_sub_millisecond_tables():
    """0.1x the hand table's entries, fixed 0.3 ms (E = 0.725 ms, cheapest 0.4 ms): unit = 0.4 / e ms."""
    table = hand_table(fixed_ms=0.3, scale=0.1)
    objective = make_objective("fbnet", table, ref_ms=0.5)
    unit = 0.4 / math.e
    assert objective.unit_ms == pytest.approx(unit, rel=1e-12)
    got = objective(torch.tensor(1.5, dtype=torch.float64), ExpectedLatency(table).from_probs(HAND_PROBS))
    assert float(got) == pytest.approx(1.5 * 0.2 * math.log(0.725 / unit) ** 0.6, rel=1e-12)


def test_paper_constants():
    table = hand_table()
    assert (make_objective("fbnet", table, 5.0).alpha, make_objective("fbnet", table, 5.0).beta) == (0.2, 0.6)
    assert (make_objective("mul#log", table, 5.0).alpha, make_objective("mul#log", table, 5.0).beta) == (0.2, 0.3)
    assert make_objective("add#linear", table, 5.0).lam == 0.1
    assert make_objective("mul#log", table, 5.0, beta=0.5).beta == 0.5
    assert fbnet.FBNET.arch_every is None and fbnet.FBNET.lr_arch == 0.01
    assert proxyless.PROXYLESS.arch_betas == (0.0, 0.999) and proxyless.PROXYLESS.lr_arch == 1e-3
    assert proxyless.PROXYLESS.arch_every == 5 and proxyless.PROXYLESS.latency_loss == "mul#log"
    defaults = SearchOptions(latency_ms=1.0)
    assert defaults.temperature == 5.0 and defaults.temperature_decay == 0.045


def test_binary_gate_gradient_is_binary_connects():
    torch.manual_seed(0)
    for _ in range(20):
        logits = torch.randn(2, dtype=torch.float64, requires_grad=True)
        active = torch.randint(0, 2, ())
        upstream = torch.randn(2, dtype=torch.float64)   # dL/dg_j
        gates = proxyless.binary_gates(logits, active)
        assert gates.detach().tolist() == [1.0 * (j == int(active)) for j in range(2)]
        (gates * upstream).sum().backward()
        p = torch.softmax(logits.detach(), 0)
        want = [sum(upstream[j] * p[j] * (float(i == j) - p[i]) for j in range(2)) for i in range(2)]
        assert torch.allclose(logits.grad, torch.stack(want), rtol=1e-12, atol=0)


def test_two_path_layer_gradient_uses_both_outputs_and_one_graph():
    """Through a layer: dL/dg_j = <dL/dy, o_j> for both paths; x's gradient comes from the active path."""
    torch.manual_seed(1)
    paths = torch.nn.ModuleList([torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)])
    x = torch.randn(3, 4, requires_grad=True)
    logits = torch.randn(2, requires_grad=True)
    gates = proxyless.binary_gates(logits, torch.tensor(1))
    y = mixed_output(paths, LayerMix((0, 1), gates, active=1), x)
    upstream = torch.randn_like(y)
    (y * upstream).sum().backward()
    with torch.no_grad():
        outs = [paths[k](x) for k in range(2)]
        binary = torch.stack([(upstream * o).sum() for o in outs])
        p = torch.softmax(logits, 0)
        want = torch.stack([sum(binary[j] * p[j] * (float(i == j) - p[i]) for j in range(2)) for i in range(2)])
    assert torch.allclose(logits.grad, want, rtol=1e-5, atol=1e-6)
    assert torch.allclose(x.grad, upstream @ paths[1].weight, rtol=1e-5, atol=1e-6)
    assert paths[0].weight.grad is None   # the inactive path ran without a graph


def test_rescale_keeps_unsampled_probabilities_and_adam_beta1_zero_keeps_them_still():
    torch.manual_seed(2)
    alpha = torch.nn.Parameter(torch.randn(3, 4))
    state = SimpleNamespace(params=SimpleNamespace(alpha=alpha), scratch={})
    adam = torch.optim.Adam([alpha], lr=0.1, betas=proxyless.PROXYLESS.arch_betas)
    for pair in ([0, 1], [2, 3]):
        pairs = torch.tensor([pair] * 3)
        state.scratch.update(rows=torch.arange(3), pairs=pairs, before=alpha.detach().clone())
        probs_before = torch.softmax(alpha.detach(), 1)
        grad = torch.zeros(3, 4)
        grad[:, pair] = torch.randn(3, 2)
        alpha.grad = grad
        adam.step()
        untouched = [c for c in range(4) if c not in pair]
        assert torch.equal(alpha.detach()[:, untouched], state.scratch["before"][:, untouched])   # beta1 = 0
        proxyless._rescale(state)
        probs = torch.softmax(alpha.detach(), 1)
        assert torch.allclose(probs[:, untouched], probs_before[:, untouched], rtol=1e-6)
        assert not torch.allclose(probs[:, pair], probs_before[:, pair])


def test_fbnet_temperature_schedule_and_gumbel_masked_latency(small_npz, monkeypatch):
    space = get_space("proxyless")
    table = synthetic_table(space)
    taus, latencies = [], []
    real_gumbel, real_call = torch.nn.functional.gumbel_softmax, dnas.LatencyObjective.__call__

    def gumbel(logits, tau, dim):
        taus.append(tau)
        out = real_gumbel(logits, tau=tau, dim=dim)
        if logits.requires_grad:
            latencies.append(("weights", out.detach().clone()))
        return out

    def objective(self, ce, lat):
        latencies.append(("latency", float(lat.detach())))
        return real_call(self, ce, lat)

    monkeypatch.setattr(fbnet.F, "gumbel_softmax", gumbel)
    monkeypatch.setattr(dnas.LatencyObjective, "__call__", objective)
    data = load_data(str(small_npz), 32)
    result = run_search("fbnet", table, space, data, options(epochs=3, warmup_epochs=0))
    want = [5.0 * math.exp(-0.045 * e) for e in range(3)]
    assert [r["temperature"] for r in result.log] == pytest.approx(want, rel=1e-12)
    assert sorted(set(taus), reverse=True) == pytest.approx(want, rel=1e-12)
    term = ExpectedLatency(table)
    pairs = list(zip(latencies[::2], latencies[1::2]))
    assert pairs and all(w[0] == "weights" and lat[0] == "latency" for w, lat in pairs)
    for (_, weights), (_, lat) in pairs:   # the latency of the very Gumbel sample that ran the step
        assert lat == pytest.approx(float(term.from_probs(weights)), rel=1e-6)
        assert lat != pytest.approx(float(term(torch.zeros_like(weights))), rel=1e-9)


@pytest.mark.parametrize("strategy", ["fbnet", "proxyless"])
def test_arch_steps_never_see_the_training_split(small_npz, monkeypatch, strategy):
    seen: dict[str, set[int]] = {"weights": set(), "arch": set()}
    real_weight, real_arch = dnas._weight_step, dnas._arch_step

    def weight_step(steps, state, x, y, opts, meter):
        seen["weights"].update(int(v) for v in y)
        return real_weight(steps, state, x, y, opts, meter)

    def arch_step(steps, state, x, y, opts, meter):
        seen["arch"].update(int(v) for v in y)
        return real_arch(steps, state, x, y, opts, meter)

    monkeypatch.setattr(dnas, "_weight_step", weight_step)
    monkeypatch.setattr(dnas, "_arch_step", arch_step)
    space = get_space("proxyless")
    data = load_data(str(small_npz), 32)
    run_search(strategy, synthetic_table(space), space, data, options(arch_every=1, warmup_epochs=0))
    train, val = {int(v) for v in data.train_y}, {int(v) for v in data.val_y}
    assert not train & val
    assert seen["arch"] == val and seen["weights"] == train


@pytest.mark.parametrize("strategy,epoch1", [("fbnet", "wwwwwwwwaa"), ("proxyless", "wwwawwwaww")])
def test_epoch_plans_and_warm_up(small_npz, monkeypatch, strategy, epoch1):
    """48 train / 12 held-out images at batch 6: 8 weight steps an epoch; FBNet then passes over the 2
    held-out batches, ProxylessNAS steps alpha after every 3rd (here) weight step; epoch 0 is warm-up."""
    order: list[str] = []
    real_weight, real_arch = dnas._weight_step, dnas._arch_step
    monkeypatch.setattr(dnas, "_weight_step", lambda *a: (order.append("w"), real_weight(*a)))
    monkeypatch.setattr(dnas, "_arch_step", lambda *a: (order.append("a"), real_arch(*a)))
    space = get_space("proxyless")
    data = load_data(str(small_npz), 32)
    every = 3 if strategy == "proxyless" else None
    result = run_search(strategy, synthetic_table(space), space, data,
                        options(batch_size=6, warmup_epochs=1, arch_every=every, epochs=2))
    assert "".join(order) == "w" * 8 + epoch1
    assert [r["warmup"] for r in result.log] == [True, False]
    assert result.log[0]["val_loss"] is None and result.log[1]["val_loss"] is not None
