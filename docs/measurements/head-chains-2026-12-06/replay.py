"""The captured network run `argsab.py` and `restab.py` share."""
import numpy as np
import tvm

from lutnas.profiler import board_hooks as bh


def network_replay(d):
    """(`board_hooks.Replay` of DIR's net.so run once on a fixed 224 px input: every kernel call with
    the network's own argument tensors; its kernel library net.kernels.so)."""
    model = tvm.runtime.load_module(f"{d}/net.so"); klib = tvm.runtime.load_module(f"{d}/net.kernels.so")
    x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype("float32"))
    return bh.Replay(model, klib, x), klib
