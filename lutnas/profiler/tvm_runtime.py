"""Loading compiled TVM libraries where only TVM's runtime is installed (GPU hosts, boards).

A deployment host runs `TVM_USE_RUNTIME_LIB=1` (or a runtime-only wheel): no compiler library, no
`tvm.relax`. Two things then need doing by hand, both measured on an H100 host with TVM 0.27:

- `libtvm_runtime_cuda.so` is not loaded by `import tvm` in runtime-only mode, so a CUDA library
  fails with "a loader of that name is not registered"; it is loaded here with RTLD_GLOBAL.
- TVM 0.27 embeds CUDA C in the library and compiles it at load time through the global callback
  `tvm_callback_cuda_compile`; TVM's own callback asks the compiler-side `Target.current()` for the
  GPU architecture and fails without the compiler. The callback registered here asks the device
  instead (`compute_version` -> `sm_XY`) and compiles with NVRTC (package `cuda-bindings`).

CPU libraries need neither; `load_module()` is the one entry point for both.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any

import numpy as np

from lutnas.errors import DeviceError, error_line

_CUDA_READY = False


def device_for(device_type: str) -> Any:
    """`tvm.cpu(0)` or `tvm.cuda(0)`; `DeviceError` when that device is not here."""
    import tvm

    if device_type == "cuda":
        prepare_cuda()
    dev = tvm.device(device_type, 0)
    if not dev.exist:
        raise DeviceError(f"no {device_type} device here")
    return dev


def run_main(lib: Any, dev: Any, x: np.ndarray) -> np.ndarray:
    """One call of a Relax VM library's `main` on `x` (local or remote module and device); the
    first output as NumPy."""
    import tvm
    from tvm.runtime.vm import VirtualMachine

    out = VirtualMachine(lib, dev)["main"](tvm.runtime.tensor(np.ascontiguousarray(x), dev))
    return (out if hasattr(out, "numpy") else out[0]).numpy()


def load_module(path: str | Path, device_type: str = "cpu") -> Any:
    """`tvm.runtime.load_module`, after making CUDA libraries loadable; errors become DeviceError."""
    import tvm

    if device_type == "cuda":
        prepare_cuda()
    try:
        return tvm.runtime.load_module(str(path))
    except Exception as err:  # noqa: BLE001 -- TVM raises its own error types for unloadable libraries
        raise DeviceError(f"cannot load {path}: {error_line(err, last=True)}") from None


def _preload_cudart() -> None:
    """Load libcudart.so.13 from CUDA_HOME, /usr/local/cuda* or NVIDIA's pip wheels, when the dynamic
    loader's path lacks it (common where CUDA came with PyTorch)."""
    import glob

    roots = [os.environ.get("CUDA_HOME", ""), "/usr/local/cuda", *sorted(glob.glob("/usr/local/cuda-*"))]
    patterns = [f"{r}/lib64/libcudart.so.13" for r in roots if r]
    patterns += [f"{r}/targets/*/lib/libcudart.so.13" for r in roots if r]
    try:
        import nvidia  # NVIDIA's pip wheels (nvidia-cuda-runtime) install under this namespace

        patterns += [f"{p}/*/lib/libcudart.so.13" for p in nvidia.__path__]
    except ImportError:
        pass
    for hit in (h for pattern in patterns for h in glob.glob(pattern)):
        try:
            ctypes.CDLL(hit, mode=ctypes.RTLD_GLOBAL)
            return
        except OSError:
            continue


def prepare_cuda() -> None:
    """Load TVM's CUDA runtime and register a device-driven NVRTC compile callback (idempotent)."""
    global _CUDA_READY
    if _CUDA_READY:
        return
    import tvm
    import tvm_ffi

    lib = Path(tvm.__file__).parent / "lib" / "libtvm_runtime_cuda.so"
    if lib.is_file():
        try:
            ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
        except OSError:
            try:  # the usual miss is libcudart outside the loader's path: find it, then retry once
                _preload_cudart()
                ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
            except OSError as err:
                raise DeviceError(f"cannot load TVM's CUDA runtime ({lib.name}): {err}") from None

    @tvm_ffi.register_global_func("tvm_callback_cuda_compile", override=True)
    def _compile(code: str, *_: Any) -> bytes:
        from tvm.support.nvcc import compile_cuda

        major_minor = tvm.cuda(0).compute_version.replace(".", "")
        mode = os.environ.get("TVM_CUDA_COMPILE_MODE", "nvrtc").lower()
        fmt = "fatbin" if mode == "nvcc" else "cubin"
        return compile_cuda(code, target_format=fmt, arch=f"sm_{major_minor}", compiler=mode)

    _CUDA_READY = True
