"""FBNet differentiable NAS (Wu et al., "FBNet: Hardware-Aware Efficient ConvNet Design via
Differentiable Neural Architecture Search", CVPR 2019).

Every layer's output is the weighted sum of all its candidates with Gumbel-softmax weights
m_l = GumbelSoftmax(alpha_l, T) (eq. 5); T starts at T0 = 5.0 and is annealed by exp(-0.045) every
epoch. The architecture loss is CE * alpha * (log LAT)^beta, alpha = 0.2, beta = 0.6 (eq. 6), with
LAT = fixed + sum_l sum_i m_{l,i} * LUT[l, i] (eq. 7): the latency of the same Gumbel sample that ran
the forward pass, so the CE and latency gradients both scale with 1/T. Each epoch first trains the
weights on the 80% split (SGD, momentum 0.9, weight decay 1e-4, cosine from 0.1 at batch 192, scaled
linearly to the batch size), then alpha on the
20% split (Adam, lr 0.01, weight decay 5e-4), after weight-only warm-up epochs (10 of 90).
The final architecture is the per-layer argmax (the paper samples six and trains them from scratch).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lutnas.search.base import STRATEGIES, SearchOptions, SearchResult
from lutnas.search.dnas import DnasRecipe, DnasState, DnasSteps, run_dnas
from lutnas.search.supernet import LayerMix

FBNET = DnasRecipe(name="fbnet", latency_loss="fbnet", lr_weights=0.1, reference_batch=192, weight_decay=1e-4,
                   nesterov=False, label_smoothing=0.0, lr_arch=0.01, arch_betas=(0.9, 0.999),
                   arch_weight_decay=5e-4, warmup_share=10 / 90, arch_every=None)


def gumbel_weights(state: DnasState, with_grad: bool) -> torch.Tensor:
    """Gumbel-softmax weights [L, C_max] at the current temperature; choices a layer lacks get 0."""
    mask = state.params.mask
    logits = state.params.alpha if with_grad else state.params.alpha.detach()
    return F.gumbel_softmax(logits.masked_fill(~mask, float("-inf")), tau=state.temperature, dim=-1)


def layer_mixes(state: DnasState, weights: torch.Tensor) -> list[LayerMix]:
    """Every valid candidate of each layer, weighted by its row of `weights`."""
    valid = state.scratch.get("valid")
    if valid is None:
        mask = state.params.mask
        valid = [torch.nonzero(mask[layer]).flatten() for layer in range(mask.shape[0])]
        valid = state.scratch["valid"] = [(v, tuple(int(i) for i in v.cpu())) for v in valid]
    return [LayerMix(indices, weights[layer, index]) for layer, (index, indices) in enumerate(valid)]


def _weight_mix(state: DnasState) -> list[LayerMix]:
    return layer_mixes(state, gumbel_weights(state, with_grad=False))


def _arch_loss(state: DnasState, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    weights = gumbel_weights(state, with_grad=True)
    logits = state.supernet(x, layer_mixes(state, weights))
    ce = F.cross_entropy(logits, y)
    return state.objective(ce, state.params.expected.from_probs(weights)), logits


def search_fbnet(table: Any, space: Any, data: Any, options: SearchOptions) -> SearchResult:
    return run_dnas(DnasSteps(FBNET, weight_mix=_weight_mix, arch_loss=_arch_loss), table, space, data, options)


STRATEGIES.register("fbnet", search_fbnet)
