"""Probe: the same onnxruntime networks timed by the in-network profile's cycles and by time_whole
(what validate uses), alternating A B A B in one process: the ratio A/B is the method's offset."""
import glob, os, sys
os.environ.setdefault("OMP_NUM_THREADS", "1")
from pathlib import Path
import numpy as np


def main():
    from lutnas.latency_tables.context import profile_networks
    from lutnas.latency_tables.networks import time_whole
    from lutnas.lowering import get_target
    from lutnas.profiler.measurement import MeasureJob
    from lutnas.profiler.runners import LocalRunner
    from lutnas.profiler.stability import DEFAULT_POLICY

    paths = sorted(glob.glob(sys.argv[1]))[:int(sys.argv[2])]
    res = int(sys.argv[3])
    runner = LocalRunner(get_target("x86"), "onnxruntime", 1)
    jobs = [MeasureJob(Path(p).stem, (1, 3, res, res), onnx_path=p, runtime="onnxruntime", target="x86",
                       threads=1, min_repeat_ms=20.0) for p in paths]
    ratios = []
    for rep in range(3):
        def A():
            prof = profile_networks([Path(p) for p in paths], [(0,)] * len(paths), [["x"]] * len(paths), repeats=15,
                                    min_repeat_ms=20.0)
            return np.array([float(np.median(p.plain_ms)) for p in prof])

        def B():
            passes = time_whole(runner, jobs, DEFAULT_POLICY, min_rounds=15, progress=False)
            return np.array([float(np.median(ps[0].samples_ms)) for ps in passes])

        if os.environ.get("B_FIRST"):
            b = B(); a = A()
        else:
            a = A(); b = B()
        r = a / b
        ratios.append(r)
        print(f"round {rep}: profile/validate per network median {np.median(r):.3f} "
              f"(min {r.min():.3f}, max {r.max():.3f})", flush=True)
    print(f"all: median {np.median(np.concatenate(ratios)):.3f}")


if __name__ == "__main__":
    main()
