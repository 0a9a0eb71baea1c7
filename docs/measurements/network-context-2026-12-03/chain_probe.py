"""Probe: per cycle, the network (one sample), its blocks chained on real tensors (one call each,
network cache state) and its blocks hot alone (time_evaluator, 20 calls): ratios to the network."""
import sys, time, numpy as np
from pathlib import Path
import tvm
from tvm.runtime.vm import VirtualMachine
from lutnas.latency_tables.table import open_table
from lutnas.latency_tables.jobs import table_block_jobs as anchor_jobs
from lutnas.latency_tables.networks import table_network_jobs
from lutnas.lowering.targets import target_from_json
from lutnas.profiler.runners import LocalRunner
from lutnas.profiler.harness import random_input
from lutnas.spaces import get_space

def main():
    db, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    R = int(sys.argv[4]) if len(sys.argv) > 4 else 15
    table = open_table(db)
    m = table.meta
    space = get_space(m.space)
    target = target_from_json(m.target_name, m.target_json)
    runner = LocalRunner(target, "tvm", m.threads)
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    pred = table.dense().predict(np.asarray(archs)).latency_ms
    for a, p in zip(archs, pred):
        blocks = space.blocks(a, m.resolution)
        keys = [b.key for b in blocks]
        jobs = anchor_jobs(table, sorted(set(keys)), target, m.threads, Path("/tmp/p12/work"))
        vms = {}
        for k, j in jobs.items():
            lib, dev = runner._tvm_module(j)
            vms[k] = (VirtualMachine(lib, dev), dev, j)
        (net,) = table_network_jobs(table, [a])
        s = runner.sampler(net)
        dev = vms[keys[0]][1]
        x0 = tvm.runtime.tensor(random_input(jobs[keys[0]]), dev)
        fns = [vms[k][0]["main"] for k in keys]
        hot_in = {k: tvm.runtime.tensor(random_input(j), dev) for k, j in jobs.items()}
        for _ in range(3):
            x = x0
            for f in fns:
                x = f(x)
        netv, chain, hot = [], [], []
        for r in range(R):
            netv.append(s.take(1)[0])
            x = x0
            t = np.empty(len(keys))
            for i, f in enumerate(fns):
                t0 = time.perf_counter_ns(); x = f(x); t[i] = (time.perf_counter_ns() - t0) * 1e-6
            chain.append(t)
            h = {k: float(vms[k][0].time_evaluator("main", dev, number=20, repeat=1)(hot_in[k]).results[0]) * 1e3 for k in jobs}
            hot.append(sum(h[k] for k in keys))
        netv = np.array(netv); chain = np.array(chain); hot = np.array(hot)
        csum = chain.sum(axis=1)
        # per-call python overhead on the smallest block, hot
        k_small = keys[int(np.argmin(np.median(chain, axis=0)))]
        vm, _, j = vms[k_small]; f = vm["main"]; xs = hot_in[k_small]
        for _ in range(10): f(xs)
        t0 = time.perf_counter_ns()
        for _ in range(200): f(xs)
        py = (time.perf_counter_ns() - t0) * 1e-6 / 200
        te = float(np.median(vm.time_evaluator("main", dev, number=200, repeat=5)(xs).results)) * 1e3
        ovh = py - te
        csum_o = csum - len(keys) * ovh
        print(f"net {np.median(netv):.3f} (p10-90 {np.percentile(netv,10):.2f}-{np.percentile(netv,90):.2f})  "
              f"table/net {p/np.median(netv):.3f}  hot/net {np.median(hot/netv):.3f}  chain/net {np.median(csum/netv):.3f}  "
              f"(chain-ovh)/net {np.median(csum_o/netv):.3f}  ovh {ovh*1e3:.1f}us x{len(keys)}", flush=True)

if __name__ == '__main__':
    main()
