"""Which x86 CPUs LLVM knows, and which instruction sets an `-mcpu` needs that this host lacks.

A library built with `-mcpu=skylake-avx512` executes AVX-512 instructions; on a CPU without them the
process dies of SIGILL (exit 132) with no message. So a target's mcpu is checked twice: its name
against LLVM's CPU list for x86-64 when the target is made (`check_mcpu`: a typo is refused, not
recorded), and, before anything built for it runs here, its instruction sets against this host's
(`missing_host_features`, used by `TargetSpec.runnable_here`). Cross targets and remote runs never
ask the second question.

LLVM's feature list of a CPU mixes instruction sets with tuning hints ("fast-gather",
"slow-3ops-lea"); only instruction sets can fault, so only those named in `ISA_FLAGS` (LLVM name ->
Linux /proc/cpuinfo flag) are compared. The host's flags come from /proc/cpuinfo, which reports
what the (virtual) CPU really enables; elsewhere from LLVM's model of the host CPU.
"""

from __future__ import annotations

import difflib
import functools
from pathlib import Path

from lutnas.errors import UnknownNameError

X86_TRIPLE = "x86_64-unknown-linux-gnu"

# Instruction-set features code generation may use, LLVM name -> /proc/cpuinfo flag.
ISA_FLAGS = {
    "sse3": "pni", "ssse3": "ssse3", "sse4.1": "sse4_1", "sse4.2": "sse4_2", "popcnt": "popcnt",
    "avx": "avx", "avx2": "avx2", "fma": "fma", "f16c": "f16c", "bmi": "bmi1", "bmi2": "bmi2",
    "lzcnt": "abm", "movbe": "movbe", "cx16": "cx16", "aes": "aes", "pclmul": "pclmulqdq", "sha": "sha_ni",
    "vaes": "vaes", "vpclmulqdq": "vpclmulqdq", "gfni": "gfni", "adx": "adx", "avxvnni": "avx_vnni",
    "avx512f": "avx512f", "avx512cd": "avx512cd", "avx512dq": "avx512dq", "avx512bw": "avx512bw",
    "avx512vl": "avx512vl", "avx512ifma": "avx512ifma", "avx512vbmi": "avx512vbmi",
    "avx512vbmi2": "avx512_vbmi2", "avx512vnni": "avx512_vnni", "avx512bitalg": "avx512_bitalg",
    "avx512vpopcntdq": "avx512_vpopcntdq", "avx512bf16": "avx512_bf16", "avx512fp16": "avx512_fp16",
    "amx-tile": "amx_tile", "amx-int8": "amx_int8", "amx-bf16": "amx_bf16", "amx-fp16": "amx_fp16",
}


def _codegen():
    """tvm.target.codegen, or None on a runtime-only TVM (nothing to check against there)."""
    try:
        from tvm.target import codegen

        codegen.llvm_version_major()
        return codegen
    except (ImportError, AttributeError, RuntimeError):
        return None


@functools.cache
def known_cpus() -> tuple[str, ...]:
    """LLVM's x86-64 CPU names (empty without LLVM)."""
    import tvm

    codegen = _codegen()
    if codegen is None:
        return ()
    return tuple(sorted(str(c) for c in codegen.llvm_get_cpu_archlist(
        tvm.target.Target({"kind": "llvm", "mtriple": X86_TRIPLE}))))


def check_mcpu(mcpu: str) -> str:
    """`mcpu` if LLVM knows it for x86-64, else `UnknownNameError` with the nearest names."""
    codegen = _codegen()
    if codegen is None or codegen.llvm_is_valid_cpu(mcpu, X86_TRIPLE):
        return mcpu
    near = difflib.get_close_matches(mcpu, known_cpus(), n=4, cutoff=0.5)
    host = codegen.llvm_get_system_cpu()
    hint = f"did you mean {', '.join(near)}? " if near else ""
    raise UnknownNameError(f"unknown -mcpu {mcpu!r} for x86 (LLVM {codegen.llvm_version_major()}); {hint}"
                           f"this machine is {host}; `python -c \"import tvm.target.codegen as c; "
                           f"print(c.llvm_get_cpu_archlist())\"` lists them all")


@functools.cache
def cpu_isa(mcpu: str) -> frozenset[str]:
    """The instruction sets (LLVM names in `ISA_FLAGS`) LLVM may emit for `-mcpu=mcpu`."""
    import tvm

    codegen = _codegen()
    if codegen is None:
        return frozenset()
    target = tvm.target.Target({"kind": "llvm", "mtriple": X86_TRIPLE, "mcpu": mcpu})
    return frozenset(f for f in codegen.llvm_get_cpu_features(target) if f in ISA_FLAGS)


@functools.cache
def host_flags() -> frozenset[str] | None:
    """This CPU's /proc/cpuinfo flags (Linux), else None."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return None


def missing_host_features(mcpu: str) -> list[str]:
    """Instruction sets `-mcpu=mcpu` code may use that this host does not have (LLVM names, sorted)."""
    flags = host_flags()
    if flags is not None:
        return sorted(f for f in cpu_isa(mcpu) if ISA_FLAGS[f] not in flags)
    codegen = _codegen()
    host = codegen.llvm_get_system_cpu() if codegen is not None else None
    return sorted(cpu_isa(mcpu) - cpu_isa(str(host))) if host else []
