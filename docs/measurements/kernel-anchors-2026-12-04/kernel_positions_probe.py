"""Probe: a repeated kernel timed at each of its positions in the model's loop, against the first
position (what the table times) and against the whole model (interleaved with the replay)."""
import os, sys, time
os.environ.setdefault("TVM_NUM_THREADS", "1")
from pathlib import Path
import numpy as np


def main():
    from lutnas.latency_tables.kernel_table import compile_models, read_models
    from lutnas.lowering.kernels import kernel_library_path
    from lutnas.lowering.pipeline import resolve_build
    from lutnas.profiler import board_hooks
    from lutnas.profiler.harness import random_input
    from lutnas.profiler.measurement import MeasureJob
    from lutnas.profiler.tvm_runtime import device_for, load_module
    import tvm
    from tvm.runtime.vm import VirtualMachine

    build = resolve_build("x86")
    for path in sys.argv[1:]:
        (model,) = read_models([Path(path)])
        ((library, kernels),) = compile_models([model], build.target, build.pipeline)
        dev = device_for("cpu")
        model_lib, kernel_lib = load_module(library), load_module(kernel_library_path(library))
        job = MeasureJob(model.key, model.input_shape, library_path=library, target="x86", threads=1)
        x = tvm.runtime.tensor(random_input(job), dev)
        rep = board_hooks.Replay(model_lib, kernel_lib, x)
        vm = VirtualMachine(model_lib, dev)
        whole = []
        per_pos = {i: [] for i in range(len(rep.calls))}
        for cycle in range(5):
            whole.append(np.median(vm.time_evaluator("main", dev, number=20, repeat=5)(x).results) * 1e3)
            for i, (name, fn, args) in enumerate(rep.calls):
                rep.selected = i
                board_hooks._REST[:] = [(f, a) for _, f, a in rep.calls[i + 1:] + rep.calls[:i]]
                per_pos[i].append(np.median(rep.time_selected(60)) * 1e3)
        pos = {i: float(np.median(v)) for i, v in per_pos.items()}
        first = {}
        for i, (name, _, _) in enumerate(rep.calls):
            first.setdefault(name, pos[i])
        sum_first = sum(first[name] for name, _, _ in rep.calls)
        sum_each = sum(pos.values())
        w = float(np.median(whole))
        print(f"{Path(path).stem}: whole {w:.4f} ms  first-position sum {sum_first:.4f} ({sum_first / w - 1:+.1%})  "
              f"each-position sum {sum_each:.4f} ({sum_each / w - 1:+.1%})  calls {len(rep.calls)}")
        for i, (name, _, _) in enumerate(rep.calls):
            print(f"   {i:3d} {pos[i]*1e3:8.2f} us  first {first[name]*1e3:8.2f}  {name}")


if __name__ == "__main__":
    main()
