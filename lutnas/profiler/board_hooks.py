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

The replay itself (`Replay`) is the one `kernel_timing.ModelReplay` uses on this machine too, so the
capture and the rest-of-model loop exist once; the host side (`kernel_timing.BoardReplay`) drives
these functions and keeps the sampling rule in one place. This file imports only TVM (and only when
used): a board has TVM's runtime and Python, not lutnas (nor numpy, maybe). Run as a script it takes
TVM's `rpc_server` options --host, --port, --port-end, --tracker, --key.
"""

import argparse
import time

REST_OF_MODEL = "lutnas.board.rest_of_model"   # the f_preproc: runs `_REST` before each timed call

_REST = []            # the selected call's rest of the model: (function, arguments) in cyclic order
_BOARD = {"replay": None}   # a board session's current replay (one model at a time)


def _run_rest(*_args):
    for fn, args in _REST:
        fn(*args)


class Replay:
    """One run of a model's VM `main` on `x`, its kernel calls captured in order: (name, the kernel
    library's function, the very tensors the VM passed it, held by reference: the VM's own storage,
    shared between calls as the model shares it, holding the values the model computes)."""

    def __init__(self, model_lib, kernel_lib, x):
        from tvm.runtime.vm import VirtualMachine

        self.kernel_lib, self.dev, self.calls, self.selected = kernel_lib, x.device, [], -1
        functions = {}

        def instrument(func, name, before, ret, *args):
            if before and not name.startswith("vm.builtin."):
                if name not in functions:
                    functions[name] = _kernel_function(kernel_lib, name)
                if functions[name] is not None:
                    self.calls.append((name, functions[name], list(args)))
            return 0

        vm = VirtualMachine(model_lib, self.dev)
        vm.set_instrument(instrument)
        vm["main"](x)
        self.dev.sync()

    def select(self, function):
        """Time the first call of `function` from now on; its index, -1 when the model never calls it."""
        index = next((i for i, (name, _, _) in enumerate(self.calls) if name == function), -1)
        if index >= 0:
            self.selected = index
            _REST[:] = [(fn, args) for _, fn, args in self.calls[index + 1:] + self.calls[:index]]
        return index

    def rest_ms(self):
        """One run of the rest of the model, in ms."""
        t0 = time.perf_counter()
        _run_rest()
        return (time.perf_counter() - t0) * 1e3

    def time_selected(self, calls):
        """`calls` single timed calls of the selected kernel, each after the rest of the model; seconds each."""
        import tvm

        if tvm.get_global_func(REST_OF_MODEL, allow_missing=True) is None:
            tvm.register_global_func(REST_OF_MODEL, _run_rest)
        name, _, args = self.calls[self.selected]
        ev = self.kernel_lib.time_evaluator(name, self.dev, number=1, repeat=int(calls), min_repeat_ms=0,
                                            f_preproc=REST_OF_MODEL)
        return [float(r) for r in ev(*args).results]


def _kernel_function(kernel_lib, name):
    try:
        return kernel_lib.get_function(name)
    except Exception:  # noqa: BLE001 -- not a kernel of this library (an external packed function)
        return None


# -- the board's functions (over RPC: plain arguments, plain results) ---------------------------------
def capture(model_path, kernel_path, x):
    """`x` arrives as a view of the RPC message (a DLTensor in the server's arena, valid for this call
    only); the replay keeps the model's input for every later call, so it runs on a board-owned copy."""
    import tvm

    owned = tvm.runtime.empty(tuple(x.shape), x.dtype, x.device)
    owned.copyfrom(x)
    _BOARD["replay"] = Replay(tvm.runtime.load_module(model_path), tvm.runtime.load_module(kernel_path), owned)
    return len(_BOARD["replay"].calls)


def select(function):
    return _BOARD["replay"].select(function)


def rest_ms():
    return _BOARD["replay"].rest_ms()


def time_selected(calls):
    return ",".join(repr(v) for v in _BOARD["replay"].time_selected(calls))


def register():
    """Register the board's functions in this process (the server's init callback)."""
    import tvm

    tvm.register_global_func(REST_OF_MODEL, _run_rest, override=True)
    for name, func in (("capture", capture), ("select", select), ("rest_ms", rest_ms),
                       ("time_selected", time_selected)):
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
