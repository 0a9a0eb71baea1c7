import sys
from lutnas.latency_tables.kernel_table import open_kernel_table
for db in sys.argv[1:]:
    t = open_kernel_table(db)
    est = t.estimates(); fc = t.fixed_cost(); passes = t.ks.model_passes(t.id)
    from lutnas.profiler.stability import verdict
    for row in t.ks.models(t.id, role="model"):
        w = verdict(passes[(row.id,"model")], t.policy).median_ms
        k = sum(c*est[x.signature] for x,c in zip(row.kernels.kernels,row.kernels.calls))
        f = fc.cost_ms(row.kernels.vm_calls)
        print(db, row.name, f"whole {w:.4f} kernels {k:.4f} fixed {f:.4f} ctx {(w-f)/k:.3f}")
