"""A DenseTable of a space's layout filled with deterministic numbers, NOT measurements.

Benches and tests of search and prediction need a table of the right shape (skip = 0.0, choices a
layer lacks = NaN) with plausible relative costs, without profiling a device first. One builder
here keeps those tables alike; anything built by it must say it is synthetic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from lutnas.latency_tables.dense import DenseTable

if TYPE_CHECKING:
    from lutnas.spaces.base import SearchSpace
    from lutnas.spaces.blocks import Block

BlockCost = Callable[["Block"], float]


def block_macs(block: Block) -> float:
    """Multiply-accumulates of an inverted residual: 1x1 expand, KxK depthwise and 1x1 project."""
    s, (_, _, h, w) = block.spec, block.input_shape
    mid = s.in_ch * max(s.expand, 1.0)
    return h * w * (s.in_ch * mid + (s.kernel**2 * mid + mid * s.out_ch) / s.stride**2)


def mac_cost_ms(block: Block) -> float:
    """Default cost: 1 ms per 2e7 MACs, a rough mobile-CPU rate that keeps relative costs plausible."""
    return block_macs(block) / 2e7


def synthetic_table(space: SearchSpace, resolution: int | None = None, *, seed: int = 0,
                    cost_ms: BlockCost = mac_cost_ms, overhead_ms: float = 0.02, fixed_ms: float = 2.0,
                    fixed_var_ms2: float = 1e-2) -> DenseTable:
    """Entry = cost_ms(block) * (1 + up to 10% noise) + overhead_ms; skip 0.0; missing NaN; std 5%.

    `seed` fixes the noise, so the same call gives the same table (comparable bench runs).
    `resolution` defaults to the space's default resolution.
    """
    resolution = space.default_resolution if resolution is None else resolution
    rng = np.random.default_rng(seed)
    counts = [len(space.choice_names(layer)) for layer in range(space.num_layers)]
    lat = np.full((space.num_layers, max(counts)), np.nan)
    for layer in range(space.num_layers):
        for i, block in enumerate(space.candidate_blocks(layer, resolution)):
            lat[layer, i] = 0.0 if block is None else cost_ms(block) * (1.0 + 0.1 * rng.random()) + overhead_ms
    var = np.where(np.isnan(lat), np.nan, (0.05 * np.nan_to_num(lat)) ** 2)
    return DenseTable(space=space.name, resolution=resolution, fixed_ms=fixed_ms, fixed_var_ms2=fixed_var_ms2,
                      latency_ms=lat, var_ms2=var, num_choices=np.asarray(counts, dtype=np.int64))
