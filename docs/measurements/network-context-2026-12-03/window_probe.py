"""One interleaved run: every block, the covering networks and 30 held-out networks. Per-cell context
factors from this run's blocks+covering networks; held-out predicted with (a) this run's blocks x
factors, (b) the stored table (profile-time blocks x stored factors)."""
import sys, numpy as np
from pathlib import Path
from lutnas.latency_tables.table import open_table
from lutnas.latency_tables.jobs import table_block_jobs as anchor_jobs
from lutnas.latency_tables.jobs import work_dir_for
from lutnas.latency_tables.networks import table_network_jobs
from lutnas.latency_tables.context import covering_archs
from lutnas.latency_tables.network_context import NetworkContext, context_factors, apply_context
from lutnas.latency_tables.stats import estimates
from lutnas.lowering.targets import target_from_json
from lutnas.profiler.rounds import measure_interleaved
from lutnas.profiler.runners import LocalRunner
from lutnas.spaces import get_space

def main():
    db, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    t = open_table(db); m = t.meta; space = get_space(m.space)
    target = target_from_json(m.target_name, m.target_json)
    runner = LocalRunner(target, m.runtime, m.threads)
    cover = [tuple(a) for a in covering_archs(space, 2, 0)]
    rng = np.random.default_rng(seed); held = [tuple(space.sample(rng)) for _ in range(n)]
    keys = list(space.layer_table(m.resolution).unique_blocks())
    bj = anchor_jobs(t, keys, target, m.threads, work_dir_for(Path(t.path)))
    nj = table_network_jobs(t, cover + held)
    passes = measure_interleaved(runner, [bj[k] for k in keys] + nj, 15)
    v = estimates([[p.samples_ms] for p in passes], t.estimator)
    win = dict(zip(keys, v)); net = np.array(v[len(keys):]); nc = len(cover)
    sums = np.array([sum(win[b.key] for b in space.blocks(a, m.resolution)) for a in cover + held])
    ctx = NetworkContext(tuple(cover), tuple(net[:nc]), tuple(net[:nc] / sums[:nc]), 0.0)
    hot_stored = t.dense(context=False)
    # window dense: same layout as stored, cells replaced by window estimates
    st = {d.entry.key: None for d in t.entries()}
    f = context_factors(hot_stored, ctx)
    def pred_window(a):
        bl = space.blocks(a, m.resolution)
        tot = 0.0
        for b in bl:
            tot += win[b.key] * f.fixed  # placeholder for fixed
        return tot
    # per-cell prediction with window blocks
    layout = space.layer_table(m.resolution)
    fixed_keys = [b.key for b in layout.fixed]
    def pred_cells(a):
        tot = sum(win[k] for k in fixed_keys) * f.fixed
        for l, c in enumerate(a):
            blk = layout.cells[l][c]
            if blk is not None: tot += win[blk.key] * f.cells[l, c]
        return tot
    pa = np.array([pred_cells(a) for a in held])
    pb = t.dense().predict_latency(np.asarray(held, dtype=np.int64))
    stored_hot = hot_stored.predict_latency(np.asarray(held, dtype=np.int64))
    mh = net[nc:]
    def sh(p):
        e = p / mh - 1
        return f"±10% {np.mean(abs(e)<=.1):4.0%} ±5% {np.mean(abs(e)<=.05):4.0%} bias {np.median(e):+.1%}"
    print(f"threads {m.threads}: window ratios {np.min(ctx.ratios):.3f}-{np.max(ctx.ratios):.3f}; stored ctx ratios", 
          t.store.attachment(t.id, 'context')['ratios'][:3])
    print("window blocks x window factors:", sh(pa))
    print("stored table (plain predict): ", sh(pb))
    print("held-out sum of window blocks / stored hot sum: median", np.median(sums[nc:] / stored_hot))
    print("held-out net / window block sum: ", np.round(np.percentile(mh / sums[nc:], [0, 50, 100]), 3), " covering:", np.round(np.percentile(net[:nc]/sums[:nc], [0,50,100]),3))

if __name__ == "__main__":
    main()
