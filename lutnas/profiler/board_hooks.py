"""In-model kernel timing on an RPC board: the board-side half, registered in the board's RPC server.

A board runs TVM's own RPC server, whose sessions cannot run the host's Python. In-model timing
(`kernel_timing`, cache mode "in-model") needs two Python callbacks where the model runs: the VM's
instrument hook that captures every kernel call's arguments, and the `f_preproc` that runs the rest
of the model before each timed call. `lutnas board up` runs this file as its server
(`boards.server_args`): TVM's `rpc.Server` with `register` as its init callback, which runs in the
server's worker process before it serves, so every session (a forked child) has these functions:

- `lutnas.board.capture(model_path, kernel_path, x)`: run the uploaded model's VM `main` once on the
  board tensor `x` with the hook, keep every kernel call (function, its arguments by reference);
  returns the number of kernel calls captured;
- `lutnas.board.select(function)`: choose the first call of `function` as the one to time and
  return its index (-1 when the model never calls it);
- `lutnas.board.time_selected(calls)`: `calls` single timed calls of it, each after the rest of the
  model (untimed), as seconds per call, comma-separated;
- `lutnas.board.rest_ms()`: one run of the rest of the model, in ms (the host's time budget).

The host side (`kernel_timing.BoardReplay`) drives these and keeps the sampling rule in one place;
`capture` and the rest-of-model loop mirror `kernel_timing.ModelReplay`, which cannot be imported here.
This file imports only TVM: a board has TVM's runtime and Python, not lutnas (nor numpy, maybe).
Run as a script it takes TVM's `rpc_server` options --host, --port, --port-end, --tracker, --key.
"""

import argparse
import time

import tvm
from tvm.runtime.vm import VirtualMachine

_STATE = {"calls": [], "rest": [], "selected": None, "kernel_lib": None}


def _rest_of_model(*_args):
    for fn, args in _STATE["rest"]:
        fn(*args)


def capture(model_path, kernel_path, x):
    dev = x.device
    model_lib = tvm.runtime.load_module(model_path)
    kernel_lib = tvm.runtime.load_module(kernel_path)
    calls, functions = [], {}

    def instrument(func, name, before, ret, *args):
        if before and not name.startswith("vm.builtin."):
            if name not in functions:
                try:
                    functions[name] = kernel_lib.get_function(name)
                except Exception:  # noqa: BLE001 -- not a kernel of this library
                    functions[name] = None
            if functions[name] is not None:
                calls.append((name, functions[name], list(args)))
        return 0

    vm = VirtualMachine(model_lib, dev)
    vm.set_instrument(instrument)
    vm["main"](x)
    _STATE.update(calls=calls, rest=[], selected=None, kernel_lib=kernel_lib)
    return len(calls)


def select(function):
    calls = _STATE["calls"]
    for i, (name, _, _) in enumerate(calls):
        if name == function:
            order = calls[i + 1:] + calls[:i]
            _STATE.update(rest=[(fn, args) for _, fn, args in order], selected=i)
            return i
    return -1


def rest_ms():
    t0 = time.perf_counter()
    _rest_of_model()
    return (time.perf_counter() - t0) * 1e3


def time_selected(calls):
    name, _, args = _STATE["calls"][_STATE["selected"]]
    dev = args[0].device
    ev = _STATE["kernel_lib"].time_evaluator(name, dev, number=1, repeat=int(calls), min_repeat_ms=0,
                                              f_preproc="lutnas.board.rest_of_model")
    return ",".join(repr(float(r)) for r in ev(*args).results)


def register():
    """Register the board's functions in this process (the server's init callback)."""
    for name, func in (("rest_of_model", _rest_of_model), ("capture", capture), ("select", select),
                       ("rest_ms", rest_ms), ("time_selected", time_selected)):
        tvm.register_global_func(f"lutnas.board.{name}", func, override=True)


def main(register_hooks):
    from tvm import rpc

    ap = argparse.ArgumentParser(description="TVM's RPC server with lutnas's in-model timing hooks")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9090)
    ap.add_argument("--port-end", type=int, default=9199)
    ap.add_argument("--tracker", default=None, help="HOST:PORT of a TVM RPC tracker to register with")
    ap.add_argument("--key", default="")
    args = ap.parse_args()
    tracker = None
    if args.tracker:
        host, _, port = args.tracker.rpartition(":")
        tracker = (host, int(port))
    server = rpc.Server(args.host, args.port, args.port_end, key=args.key, tracker_addr=tracker,
                        server_init_callback=register_hooks)
    server.proc.join()


if __name__ == "__main__":
    import board_hooks  # this file under its module name, which the server's worker imports the callback by

    main(board_hooks.register)
