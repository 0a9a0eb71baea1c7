import sys, time
from lutnas.latency_tables import open_table
from lutnas.latency_tables.network_context import measure_context, context_factors, context_weights, per_cell_factors
def main():
    t = open_table(sys.argv[1])
    t0 = time.time()
    ctx = measure_context(t, progress=False)
    print(f"measured in {time.time()-t0:.0f} s: {len(ctx.archs)} networks")
    w = context_weights(t.layout(), ctx)
    f = context_factors(t.dense(context=False), ctx, w)
    print(f.line())
    print(per_cell_factors(t.dense(context=False), ctx).line())
    
if __name__ == "__main__":
    main()
