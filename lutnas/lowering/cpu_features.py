"""Which x86 CPUs LLVM knows, and which instruction sets an `-mcpu` needs that this host lacks.

A library built with `-mcpu=skylake-avx512` executes AVX-512 instructions; on a CPU without them the
process dies of SIGILL (exit 132) with no message. So a target's mcpu is checked twice: its name
against LLVM's CPU list for x86-64 when the target is made (`check_mcpu`: a typo is refused, not
recorded), and, before anything built for it runs here, its instruction sets against this host's
(`missing_host_features`, used by `TargetSpec.runnable_here`). Cross targets and remote runs never
ask the second question. Builds for this host name its CPU and turn off what the name implies and the
host lacks (`host_mattr`), so they always pass it.

LLVM's feature list of a CPU mixes instruction sets with tuning hints ("fast-gather",
"slow-3ops-lea"); only instruction sets can fault, so only those named in `ISA_FLAGS` (LLVM name ->
Linux /proc/cpuinfo flag) are compared. The host's flags come from /proc/cpuinfo, which reports
what the (virtual) CPU really enables; elsewhere from LLVM's model of the host CPU.

`vector_unit(target)` answers, for any llvm target (x86 or AArch64, cross or native), what the
schedule rules size vectors and register tiles by: register width, register count, FMA. It is read
from the target (its triple, and the features LLVM reports for its mcpu/mattr), never assumed.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lutnas.errors import UnknownNameError

if TYPE_CHECKING:
    import tvm

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
def cpu_isa(mcpu: str, mattr: tuple[str, ...] = ()) -> frozenset[str]:
    """The instruction sets (LLVM names in `ISA_FLAGS`) LLVM may emit for `-mcpu=mcpu -mattr=mattr`."""
    import tvm

    codegen = _codegen()
    if codegen is None:
        return frozenset()
    target = {"kind": "llvm", "mtriple": X86_TRIPLE, "mcpu": mcpu, **({"mattr": list(mattr)} if mattr else {})}
    return frozenset(f for f in codegen.llvm_get_cpu_features(tvm.target.Target(target)) if f in ISA_FLAGS)


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


def missing_host_features(mcpu: str, mattr: tuple[str, ...] = ()) -> list[str]:
    """Instruction sets `-mcpu=mcpu -mattr=mattr` code may use that this host does not have (LLVM
    names, sorted)."""
    flags = host_flags()
    if flags is not None:
        return sorted(f for f in cpu_isa(mcpu, mattr) if ISA_FLAGS[f] not in flags)
    codegen = _codegen()
    host = codegen.llvm_get_system_cpu() if codegen is not None else None
    return sorted(cpu_isa(mcpu, mattr) - cpu_isa(str(host))) if host else []


def host_mattr(mcpu: str) -> tuple[str, ...]:
    """The `-mattr` that makes `-mcpu=mcpu` code run on this host: each instruction set the name
    implies and this CPU does not enable, turned off ("-amx-tile"). Why: LLVM names a CPU by its
    model, and a VM may hide what the model has (an Emerald Rapids guest without AMX, measured
    2026-12-06), as clang's `-march=native` also reads the features from the CPU, not its name."""
    return tuple(f"-{feature}" for feature in missing_host_features(mcpu))


# ---- the SIMD unit a target computes with ------------------------------------------------------

@dataclass(frozen=True)
class VectorUnit:
    """The vector registers code built for a target computes in.

    Why a record: the rules' tiles are sized by three facts that differ between the CPUs lutnas
    builds for, and a rule written for one (AVX2's 16 registers of 8 floats) over- or under-fills
    the others. AArch64's NEON has 32 registers of 4 floats with fused multiply-add (FMLA) in the
    base instruction set; x86 has 16 (SSE2: 4 floats, AVX/AVX2: 8) or, with AVX-512, 32 of 16.
    """

    arch: str        # first part of the LLVM triple, normalised: "x86_64" | "aarch64" | other
    bits: int        # width of one vector register
    registers: int   # architectural vector registers the compiler may allocate
    fma: bool        # fused multiply-add on vectors

    def lanes(self, element_bits: int = 32) -> int:
        """Elements of `element_bits` per vector (at least 2: a vector of one is a scalar loop)."""
        return max(self.bits // element_bits, 2)


# Without LLVM nothing can be asked; 128-bit x 16 is what every SIMD ISA lutnas targets has at least.
_BASELINE = VectorUnit("unknown", 128, 16, False)
# (LLVM feature, register bits, registers) for x86-64, widest first: the first feature present wins.
_X86_UNITS = (("avx512f", 512, 32), ("avx", 256, 16), ("sse2", 128, 16))


def _triple_arch(target: tvm.target.Target) -> str:
    """The target's architecture from its LLVM triple (the host's when the target names none)."""
    triple = str(target.attrs["mtriple"]) if "mtriple" in target.attrs else ""
    if not triple:
        codegen = _codegen()
        triple = str(codegen.llvm_get_system_triple()) if codegen is not None else ""
    arch = triple.split("-", 1)[0]
    return "aarch64" if arch in ("aarch64", "arm64") else arch


def has_feature(target: tvm.target.Target, feature: str) -> bool:
    """Whether LLVM enables `feature` for the target's mcpu/mattr (False for another ISA's feature)."""
    codegen = _codegen()
    if codegen is None:
        return False
    try:
        return bool(codegen.llvm_cpu_has_features(feature, target))
    except Exception:  # noqa: BLE001 -- a feature name this target's architecture does not know
        return False


def _read_vector_unit(target: tvm.target.Target) -> VectorUnit:
    if _codegen() is None or target.kind.name != "llvm":
        return _BASELINE
    arch = _triple_arch(target)
    if arch == "aarch64":  # this LLVM generates SVE code at NEON's fixed 128 bits too (no scalable tiles)
        return VectorUnit(arch, 128, 32, has_feature(target, "neon"))
    if arch == "x86_64":
        fma = has_feature(target, "fma")
        for feature, bits, registers in _X86_UNITS:
            if has_feature(target, feature):
                return VectorUnit(arch, bits, registers, fma)
    return VectorUnit(arch, _BASELINE.bits, _BASELINE.registers, False)


_UNITS: dict[str, VectorUnit] = {}


def target_vector_bits(target_json: dict) -> int:
    """Vector register bits of a target given as TVM's JSON dict (what tables store); 0 for a target
    that is not a CPU's (a GPU's threads, not one core's vector, set its arithmetic width)."""
    if target_json.get("kind") != "llvm":
        return 0
    import tvm

    return vector_unit(tvm.target.Target(target_json)).bits


def vector_unit(target: tvm.target.Target) -> VectorUnit:
    """The `VectorUnit` of an llvm target, cached by the target's JSON (every rule asks for every
    function). LLVM's `llvm_get_vector_width` is not used: TVM 0.27 answers 512 for plain x86-64."""
    key = str(target)
    if key not in _UNITS:
        _UNITS[key] = _read_vector_unit(target)
    return _UNITS[key]
