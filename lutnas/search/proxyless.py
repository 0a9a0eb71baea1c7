"""ProxylessNAS path-level binarization (Cai et al., "ProxylessNAS: Direct Neural Architecture
Search on Target Task and Hardware", ICLR 2019).

Weight step: one path per layer sampled from p = softmax(alpha) and only that path runs (single-path
memory). Architecture step: two paths per layer are sampled, their probabilities renormalized, and a
binary gate g (one of the two active) multiplies their outputs. The BinaryConnect-style estimate
dL/dp_j ~= dL/dg_j = <dL/dout, o_j> is obtained with the straight-through gate g - p.detach() + p,
and after each step the two sampled logits are shifted so their total softmax mass among all
choices is unchanged (the paper's rescaling, keeping unsampled paths' probabilities fixed).
Latency enters via E[LAT] over all choices: ``mul#log`` CE * alpha * (log E[LAT] / log ref)^beta
(alpha = 0.2, beta = 0.3) or ``add#linear`` CE + lambda * (E[LAT] - ref) / ref (lambda = 0.1),
ref = the latency target.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lutnas.search.base import STRATEGIES, SearchOptions, SearchResult
from lutnas.search.dnas import DnasState, DnasSteps, run_dnas
from lutnas.search.latency_loss import make_objective
from lutnas.search.supernet import LayerMix


def _sample_single(state: DnasState) -> list[LayerMix]:
    with torch.no_grad():
        probs = state.params.probs()
    picks = torch.multinomial(probs, 1).flatten()
    return [LayerMix((int(i),)) for i in picks]


def _binary_gates(state: DnasState) -> list[LayerMix]:
    probs = state.params.probs()
    mask = state.params.mask
    mix, sampled = [], []
    for layer in range(probs.shape[0]):
        n_valid = int(mask[layer].sum())
        idx = torch.multinomial(probs[layer].detach(), min(2, n_valid), replacement=False)
        pair = torch.softmax(state.params.alpha[layer, idx], dim=0)
        active = int(torch.multinomial(pair.detach(), 1))
        gates = F.one_hot(torch.tensor(active), len(idx)).to(pair.dtype)
        mix.append(LayerMix(tuple(int(i) for i in idx), gates - pair.detach() + pair))
        sampled.append(idx)
    state.scratch["sampled"] = sampled
    state.scratch["before"] = state.params.alpha.detach().clone()
    return mix


def _arch_loss(state: DnasState, x, y):
    logits = state.supernet(x, _binary_gates(state))
    ce = F.cross_entropy(logits, y)
    return state.objective(ce, state.params.expected_latency()), logits


def _rescale(state: DnasState) -> None:
    """Shift each layer's two updated logits so their log-sum-exp equals its value before the step."""
    alpha = state.params.alpha
    with torch.no_grad():
        for layer, idx in enumerate(state.scratch["sampled"]):
            old = torch.logsumexp(state.scratch["before"][layer, idx], dim=0)
            new = torch.logsumexp(alpha[layer, idx], dim=0)
            alpha[layer, idx] += old - new


def search_proxyless(table: Any, space: Any, data: Any, options: SearchOptions) -> SearchResult:
    mode = options.latency_loss or "mul#log"
    constants = {"alpha": 0.2 if options.loss_alpha is None else options.loss_alpha,
                 "beta": 0.3 if options.loss_beta is None else options.loss_beta,
                 "lam": options.loss_lambda}
    objective = make_objective(mode, table, options.latency_ms, **constants)
    steps = DnasSteps("proxyless", weight_mix=_sample_single, arch_loss=_arch_loss, after_arch_step=_rescale)
    return run_dnas(steps, table, space, data, options, objective)


STRATEGIES.register("proxyless", search_proxyless)
