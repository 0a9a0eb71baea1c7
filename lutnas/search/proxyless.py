"""ProxylessNAS path-level binarization (Cai et al., "ProxylessNAS: Direct Neural Architecture
Search on Target Task and Hardware", ICLR 2019), with the settings of its released search code.

Weight step: one path per layer sampled from p = softmax(alpha); only that path runs (SGD, Nesterov
momentum 0.9, weight decay 4e-5, label smoothing 0.1, cosine from 0.025 at batch 256, scaled linearly
to the batch size). Architecture step (after
every 5th weight step, on the next held-out batch, once the warm-up epochs are over): two paths per
layer are sampled from p, their probabilities renormalized (p~), one of them made active by sampling
p~, and binary gates g (1 on the active path, 0 on the other) multiply their outputs. The gradient is
BinaryConnect's, dL/dalpha_i = sum_j dL/dg_j * p~_j (delta_ij - p~_i) with dL/dg_j = <dL/dy, o_j>
(`binary_gates`). Adam (lr 1e-3, beta1 = 0, beta2 = 0.999): with no momentum the logits of paths not
sampled do not move. After each step the two logits are shifted so their log-sum-exp is what it was,
keeping the other paths' probabilities (the paper's rescaling).

Latency enters through E[LAT] under p over all choices: ``mul#log`` CE * alpha * (log E[LAT] /
log ref)^beta (alpha = 0.2, beta = 0.3, the default) or ``add#linear`` CE + lambda (E[LAT] - ref) / ref
(lambda = 0.1); ref = the latency target. Warm-up: 40 of 160 epochs (40 before the 120 search epochs).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lutnas.search.base import STRATEGIES, SearchOptions, SearchResult
from lutnas.search.dnas import DnasRecipe, DnasState, DnasSteps, run_dnas
from lutnas.search.supernet import LayerMix

PROXYLESS = DnasRecipe(name="proxyless", latency_loss="mul#log", lr_weights=0.025, reference_batch=256,
                       weight_decay=4e-5, nesterov=True, label_smoothing=0.1, lr_arch=1e-3, arch_betas=(0.0, 0.999),
                       arch_weight_decay=0.0, warmup_share=40 / 160, arch_every=5)


def binary_gates(pair_logits: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Gates [..., 2]: value one-hot at `active`, gradient BinaryConnect's through p~ = softmax(pair_logits).

    Straight through: g = onehot - p~.detach() + p~, so dL/dpair_i = sum_j dL/dg_j * dp~_j/dpair_i
    = sum_j dL/dg_j * p~_j (delta_ij - p~_i), the paper's eq. 4 restricted to the two sampled paths.
    """
    p = torch.softmax(pair_logits, dim=-1)
    hard = F.one_hot(active, pair_logits.shape[-1]).to(p.dtype)
    return hard - p.detach() + p


def _sample_single(state: DnasState) -> list[LayerMix]:
    with torch.no_grad():
        picks = torch.multinomial(state.params.probs(), 1).flatten()
    return [LayerMix((int(i),)) for i in picks.tolist()]


def _two_paths(state: DnasState) -> list[LayerMix]:
    """Two sampled paths per layer with binary gates (one path where a layer has a single choice)."""
    alpha = state.params.alpha
    rows = state.scratch.get("rows")
    if rows is None:
        rows = state.scratch["rows"] = torch.nonzero(state.params.mask.sum(dim=1) >= 2).flatten()
    with torch.no_grad():
        pairs = torch.multinomial(state.params.probs()[rows], 2, replacement=False)
        active = torch.multinomial(torch.softmax(alpha[rows].gather(1, pairs), dim=1), 1).flatten()
        single = torch.multinomial(state.params.probs(), 1).flatten()
    gates = binary_gates(alpha[rows].gather(1, pairs), active)
    state.scratch["pairs"], state.scratch["before"] = pairs, alpha.detach().clone()
    mix = [LayerMix((int(i),)) for i in single.tolist()]
    for k, (row, pair, act) in enumerate(zip(rows.tolist(), pairs.tolist(), active.tolist())):
        mix[row] = LayerMix(tuple(pair), gates[k], active=act)
    return mix


def _arch_loss(state: DnasState, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    logits = state.supernet(x, _two_paths(state))
    ce = F.cross_entropy(logits, y)
    return state.objective(ce, state.params.expected_latency()), logits


def _rescale(state: DnasState) -> None:
    """Shift each layer's two updated logits so their log-sum-exp equals its value before the step."""
    alpha, rows, pairs = state.params.alpha, state.scratch["rows"], state.scratch["pairs"]
    with torch.no_grad():
        old = torch.logsumexp(state.scratch["before"][rows].gather(1, pairs), dim=1)
        new = torch.logsumexp(alpha[rows].gather(1, pairs), dim=1)
        alpha[rows[:, None], pairs] += (old - new)[:, None]


def search_proxyless(table: Any, space: Any, data: Any, options: SearchOptions) -> SearchResult:
    steps = DnasSteps(PROXYLESS, weight_mix=_sample_single, arch_loss=_arch_loss, after_arch_step=_rescale)
    return run_dnas(steps, table, space, data, options)


STRATEGIES.register("proxyless", search_proxyless)
