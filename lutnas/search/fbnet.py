"""FBNet differentiable NAS (Wu et al., "FBNet: Hardware-Aware Efficient ConvNet Design via
Differentiable Neural Architecture Search", CVPR 2019).

Every layer's output is the Gumbel-softmax weighted sum of all its candidates
(m_l = GumbelSoftmax(alpha_l, T)); the temperature starts at T0 = 5.0 and is multiplied by
exp(-0.045) each epoch. Weights train on the train split, architecture logits on the held-out split,
alternating; the architecture loss is CE * alpha * (log E[LAT])^beta (alpha = 0.2, beta = 0.6) with
E[LAT] from the latency LUT (`latency_loss`). The final architecture is the per-layer argmax.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lutnas.search.base import STRATEGIES, SearchOptions, SearchResult
from lutnas.search.dnas import DnasState, DnasSteps, run_dnas
from lutnas.search.latency_loss import make_objective
from lutnas.search.supernet import LayerMix


def gumbel_mix(state: DnasState, with_grad: bool) -> list[LayerMix]:
    """Gumbel-softmax weights over each layer's valid candidates at the current temperature."""
    mask = state.params.mask
    logits = state.params.alpha if with_grad else state.params.alpha.detach()
    weights = F.gumbel_softmax(logits.masked_fill(~mask, float("-inf")), tau=state.temperature, dim=-1)
    mix = []
    for layer in range(mask.shape[0]):
        valid = torch.nonzero(mask[layer]).flatten()
        mix.append(LayerMix(tuple(int(i) for i in valid), weights[layer, valid]))
    return mix


def _arch_loss(state: DnasState, x, y):
    logits = state.supernet(x, gumbel_mix(state, with_grad=True))
    ce = F.cross_entropy(logits, y)
    return state.objective(ce, state.params.expected_latency()), logits


def search_fbnet(table: Any, space: Any, data: Any, options: SearchOptions) -> SearchResult:
    mode = options.latency_loss or "fbnet"
    constants = {"alpha": 0.2 if options.loss_alpha is None else options.loss_alpha,
                 "beta": 0.6 if options.loss_beta is None else options.loss_beta,
                 "lam": options.loss_lambda}
    objective = make_objective(mode, table, options.latency_ms, **constants)
    steps = DnasSteps("fbnet", weight_mix=lambda s: gumbel_mix(s, with_grad=False), arch_loss=_arch_loss)
    return run_dnas(steps, table, space, data, options, objective)


STRATEGIES.register("fbnet", search_fbnet)
