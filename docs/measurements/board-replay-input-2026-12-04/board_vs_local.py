import gc, sys, os
from pathlib import Path
import torch, numpy as np
sys.path.insert(0, "tests")
os.environ["LUTNAS_BOARDS_DIR"] = "/tmp/repro/boards"
os.environ["LUTNAS_CACHE"] = "/tmp/repro/cache"
from test_kernel_table import shared_pair, SHAPE
from lutnas.lowering import export_onnx, get_target
from lutnas.latency_tables.kernel_table import compile_models, read_models

from lutnas.lowering.kernels import kernel_library_path
from lutnas.profiler import boards
from lutnas.profiler.boards import free_port
from lutnas.profiler.harness import random_input
from lutnas.profiler.measurement import MeasureJob
import tvm
from tvm import rpc

def main():
    torch.manual_seed(0)
    a, b = shared_pair()
    export_onnx(a.eval(), SHAPE, Path("/tmp/repro/a.onnx"))
    (model,) = read_models([Path("/tmp/repro/a.onnx")])
    ((library, kernels),) = compile_models([model], get_target("x86"), "lutnas-cpu")
    port = free_port()
    state = boards.start_board("x86", port)
    try:
        remote = rpc.connect("127.0.0.1", port)
        for p, name in ((library, "m.so"), (kernel_library_path(library), "k.so")):
            remote.upload(str(p), target=name)
        wp = remote.get_function("tvm.rpc.server.workpath")
        dev = remote.cpu(0)
        job = MeasureJob(model.key, model.input_shape, library_path=library, target="x86", threads=1)
        x = tvm.runtime.tensor(random_input(job), dev)
        n = remote.get_function("lutnas.board.capture")(wp("m.so"), wp("k.so"), x)
        del x; gc.collect()
        junk = tvm.runtime.tensor(np.zeros((7,), "float32"), dev)
        try:
            remote.get_function("lutnas.board.select")(wp("m.so"), wp("k.so"), junk)
        except Exception as e:
            print("junk call:", str(e).strip().splitlines()[-1][:80])
        first = kernels.kernels[0].name
        print("calls", n, "first", first)
        for k in kernels.kernels:
            remote.get_function("lutnas.board.select")(k.name)
            try:
                print(k.name, remote.get_function("lutnas.board.time_selected")(3)[:40])
            except Exception as e:
                print(k.name, "ERR", str(e).strip().splitlines()[-3:])
    finally:
        boards.stop_board(state.name)



def local():
    from lutnas.latency_tables.kernel_table import compile_models, read_models
    from lutnas.lowering import get_target
    from lutnas.lowering.kernels import kernel_library_path
    from lutnas.profiler.kernel_timing import ModelReplay
    from lutnas.profiler.measurement import MeasureJob
    from lutnas.profiler.tvm_runtime import device_for, load_module
    (model,) = read_models([Path("/tmp/repro/a.onnx")])
    ((library, kernels),) = compile_models([model], get_target("x86"), "lutnas-cpu")
    dev = device_for("cpu")
    job = MeasureJob(model.key, model.input_shape, library_path=library, target="x86", threads=1)
    rep = ModelReplay.capture(load_module(library), load_module(kernel_library_path(library)), dev, job)
    for k in kernels.kernels:
        rep.select(k.name)
        print("local", k.name, ",".join(f"{t*1e-3:.3g}" for t in rep.time(3)))


if __name__ == '__main__':
    main()
    local()
