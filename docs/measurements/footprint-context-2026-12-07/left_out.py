"""Leave-one-network-out rms of the per-cell factors against the footprint fit's, on stored contexts."""
import sys
from dataclasses import replace
import numpy as np
from lutnas.latency_tables import open_table
from lutnas.latency_tables import network_context as nc

for db in sys.argv[1:]:
    t = open_table(db); ctx = nc.stored_context(t)
    hot = t.blocks_dense(ctx)   # the blocks as timed in the context's run
    layout = t.layout()
    w = nc.context_weights(layout, ctx)
    f = nc.context_factors(hot, ctx, w)
    archs = np.asarray(ctx.archs); ms = np.asarray(ctx.ms); sums = ms / np.asarray(ctx.ratios)
    rows = np.arange(archs.shape[1])
    # per-cell prediction of network i from the others: blocks in the run x factors
    block_lat = np.full(hot.latency_ms.shape, np.nan)
    for l, row in enumerate(layout.cells):
        for c, b in enumerate(row):
            block_lat[l, c] = 0.0 if b is None else ctx.block_ms[b.key]
    fixed = sum(ctx.block_ms[b.key] for b in layout.fixed)
    errs = []
    for i in range(len(ms)):
        sub = replace(ctx, archs=ctx.archs[:i] + ctx.archs[i+1:], ms=ctx.ms[:i] + ctx.ms[i+1:], ratios=ctx.ratios[:i] + ctx.ratios[i+1:])
        pc = nc.per_cell_factors(hot, sub)
        pred = fixed * pc.fixed + (block_lat[rows, archs[i]] * pc.cells[rows, archs[i]]).sum()
        errs.append(pred / ms[i] - 1)
    errs = np.array(errs)
    print(db, f"per-cell LOO rms {np.sqrt(np.mean(errs**2)):.1%} (the code's: {f.per_cell_left_out:.1%})",
          f"| fit LOO {f.fit.rms_left_out:.1%}, fit used" if f.fit else f"| fit LOO {f.fit_left_out:.1%}, per-cell used",
          " last 4 (footprint nets):", " ".join(f"{100*e:+.0f}" for e in errs[-4:]))
