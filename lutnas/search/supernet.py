"""A weight-sharing supernet over a search space (the over-parameterized network of ProxylessNAS /
FBNet / Once-for-All): every searchable layer holds a ModuleList with one module per candidate
choice, built from the space's own candidate blocks; stem, fixed layers and head are shared.

The network order comes from the space: `space.blocks(ref, resolution)` for a reference architecture
with no skipped layer is walked in order, and each block equal to the reference choice's
`candidate_blocks(layer)` entry becomes that layer's slot; everything else is a fixed block. Blocks come
from the space at a reduced width (its `width_mult`) with the data set's number of classes, so the
supernet trains on small data in seconds. The layout uses a resolution the space accepts (the
table's); the modules themselves work at any input size, so training runs on small images (32 px).

Mixing is per forward call, as a list of `LayerMix` (one per searchable layer): the chosen candidate
indices and optional weights. `single(arch)` runs one path (ProxylessNAS weight step, evolution with
inherited weights); FBNet passes every valid index with Gumbel-softmax weights; ProxylessNAS's
architecture step passes two indices with binary gates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lutnas.errors import ArchError


@dataclass(frozen=True)
class LayerMix:
    """Candidate indices run in one layer; output = sum_k weights[k] * path[indices[k]](x).

    `active`: if set, only path `indices[active]` carries gradient back to x; the others enter as values
    (ProxylessNAS's binary gates: a gate's gradient <dL/dy, o_k> needs o_k, not its graph).
    """

    indices: tuple[int, ...]
    weights: Any = None  # torch tensor [len(indices)] or None (then exactly one index, weight 1)
    active: int | None = None


def single(arch: Sequence[int]) -> list[LayerMix]:
    return [LayerMix((int(a),)) for a in arch]


def supernet_layout(space: Any, resolution: int, width_mult: float, num_classes: int) -> tuple[list, list]:
    """([("fixed", Block) | ("layer", l)] in network order, per-layer candidate blocks)."""
    cands = [space.candidate_blocks(layer, resolution, width_mult=width_mult) for layer in range(space.num_layers)]
    ref = []
    for layer, blocks in enumerate(cands):
        real = [i for i, b in enumerate(blocks) if b is not None]
        if not real:
            raise ArchError(f"space {space.name}: layer {layer} has no non-skip candidate")
        ref.append(real[0])
    layout: list[tuple[str, Any]] = []
    layer = 0
    for block in space.blocks(tuple(ref), resolution, width_mult=width_mult, num_classes=num_classes):
        if layer < space.num_layers and block == cands[layer][ref[layer]]:
            layout.append(("layer", layer))
            layer += 1
        else:
            layout.append(("fixed", block))
    if layer != space.num_layers:
        raise ArchError(f"space {space.name}: could not place searchable layer {layer} in blocks()")
    return layout, cands


class Supernet(nn.Module):
    """Shared stem/head plus one ModuleList of candidate modules per searchable layer."""

    def __init__(self, space: Any, resolution: int, num_classes: int, width_mult: float = 0.25) -> None:
        super().__init__()
        self.space_name = space.name
        self.num_layers = space.num_layers
        layout, cands = supernet_layout(space, resolution, width_mult, num_classes)
        self.segments = nn.ModuleList()
        self.kinds: list[str] = []
        for kind, item in layout:
            if kind == "fixed":
                self.segments.append(item.build())
            else:
                self.segments.append(nn.ModuleList(nn.Identity() if b is None else b.build() for b in cands[item]))
            self.kinds.append(kind)
        self.num_choices = [len(c) for c in cands]

    def forward(self, x: torch.Tensor, mix: Sequence[LayerMix]) -> torch.Tensor:
        layer = 0
        for kind, segment in zip(self.kinds, self.segments):
            if kind == "fixed":
                x = segment(x)
                continue
            m = mix[layer]
            x = segment[m.indices[0]](x) if m.weights is None else mixed_output(segment, m, x)
            layer += 1
        return x.flatten(1)

    def path_prefixes(self, arch: Sequence[int]) -> set[str]:
        """State-dict key prefixes of the candidates `arch` does not use."""
        unused = set()
        layer = 0
        for pos, kind in enumerate(self.kinds):
            if kind == "layer":
                for i in range(self.num_choices[layer]):
                    if i != arch[layer]:
                        unused.add(f"segments.{pos}.{i}.")
                layer += 1
        return unused

    def subnet_state(self, arch: Sequence[int]) -> dict[str, torch.Tensor]:
        """The supernet weights that `arch` uses (what a standalone subnet inherits)."""
        unused = self.path_prefixes(arch)
        return {
            k: v.detach().clone().contiguous()
            for k, v in self.state_dict().items()
            if not any(k.startswith(p) for p in unused)
        }


def mixed_output(paths: nn.ModuleList, mix: LayerMix, x: torch.Tensor) -> torch.Tensor:
    """sum_k mix.weights[k] * paths[mix.indices[k]](x); paths other than `mix.active` (if set) run
    without a graph, so backward goes through the active path only."""
    total = None
    for k, i in enumerate(mix.indices):
        if mix.active is None or k == mix.active:
            out = paths[i](x)
        else:
            with torch.no_grad():
                out = paths[i](x)
        term = mix.weights[k] * out
        total = term if total is None else total + term
    return total
