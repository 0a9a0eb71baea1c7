"""Compilation targets as data: TVM JSON-dict targets behind short names.

Following Apache TVM's `tvm.target.Target` (targets are JSON dicts, exported back to dicts), a
target is a frozen `TargetSpec` holding the dict plus the few facts the other stages need (which
compiler links it, which device runs it, which ELF machine it produces). Per-target behaviour is
read from these fields, never from `if name == ...` chains. `canonical_json()` / `target_hash()`
are stored with every artifact and latency table, so tables built for different targets never mix.

Short names live in a `Registry("target")` of factories: `get_target("x86", mcpu="znver3")`
passes options to the factory; unknown names and unknown options raise `UnknownNameError`.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import platform
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lutnas.errors import ToolchainError, UnknownNameError
from lutnas.registry import Registry

MATTR_ENTRY = re.compile(r"[+-][a-z0-9][a-z0-9._-]*")

# ELF e_machine values of the shared objects each target produces.
ELF_X86_64 = 62
ELF_AARCH64 = 183


@dataclass(frozen=True)
class TargetSpec:
    name: str  # short name: "x86" | "arm64" | "cuda"
    target_json: dict  # TVM JSON-dict form, without the host
    host_json: dict | None  # host target for device targets (cuda), else None
    cross_compiler: str | None  # links the library; None = the host's C++ compiler (TVM's get_cc)
    debian_package: str | None  # named in the error when the compiler is missing
    device_type: str  # TVM device the library runs on: "cpu" | "cuda"
    machine: str  # platform.machine() of the CPU that runs the library (host CPU for cuda)
    elf_machine: int  # e_machine of the exported shared object
    host_cpu: str | None = None  # CPU this spec was created on, recorded, not used in codegen
    notes: str = field(default="", compare=False)  # why the target looks the way it does
    # the pipeline the commands build this target with when none is named (`pipeline.resolve_build`)
    default_pipeline: str = field(default="tvm-default", compare=False)

    def full_json(self) -> dict:
        """The TVM JSON dict, host included (what `tvm.target.Target` takes)."""
        if self.host_json is None:
            return dict(self.target_json)
        return {**self.target_json, "host": dict(self.host_json)}

    def canonical_json(self) -> str:
        """Sorted-key, whitespace-free JSON of the TVM target: the identity stored with tables."""
        return json.dumps(self.full_json(), sort_keys=True, separators=(",", ":"))

    def target_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    def tvm_target(self) -> Any:
        import tvm

        return tvm.target.Target(self.full_json())

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "target": self.full_json(),
            "target_hash": self.target_hash(),
            "device_type": self.device_type,
            "cross_compiler": self.cross_compiler,
            "host_cpu": self.host_cpu,
            "notes": self.notes,
        }

    def compiler(self) -> str:
        """Path of the C++ compiler that links this target's library; `ToolchainError` if absent."""
        if self.cross_compiler is not None:
            found = shutil.which(self.cross_compiler)
            wanted = self.cross_compiler
        else:
            from tvm.support.cc import get_cc

            found = get_cc()
            wanted = "a C++ compiler (g++)"
        if not found:
            pkg = f"; install the Debian package {self.debian_package}" if self.debian_package else ""
            raise ToolchainError(f"target {self.name}: {wanted} not found on PATH{pkg}")
        return found

    def runnable_here(self) -> tuple[bool, str]:
        """Whether this machine can execute the built module, and if not, why (one short phrase)."""
        if platform.machine() != self.machine:
            return False, f"cross target: {self.name} on {platform.machine()}"
        mcpu = self.target_json.get("mcpu") if self.target_json.get("kind") == "llvm" else None
        if mcpu is not None and self.machine == "x86_64":
            from lutnas.lowering.cpu_features import missing_host_features

            missing = missing_host_features(mcpu, tuple(self.target_json.get("mattr", ())))
            if missing:  # running it would die of SIGILL (exit 132) without a word
                return False, f"-mcpu={mcpu} code uses {', '.join(missing)}, which this CPU lacks"
        if self.device_type != "cpu":
            import tvm

            if not tvm.device(self.device_type, 0).exist:
                return False, f"no {self.device_type} device here"
        return True, ""

    def __hash__(self) -> int:
        return hash(self.canonical_json())


TargetFactory = Callable[..., TargetSpec]
TARGETS: Registry[TargetFactory] = Registry("target")


def system_cpu() -> str | None:
    try:
        from tvm.target.codegen import llvm_get_system_cpu

        return str(llvm_get_system_cpu())
    except (ImportError, AttributeError, RuntimeError):  # LLVM-less TVM: the name is informative only
        return None


def _with_cores(target: dict, num_cores: int | None) -> dict:
    """`target` with TVM's `num-cores` (the threads its code will run on) when given: lutnas-cpu's rules
    order some loops by it (`rules.base.target_cores`); None leaves it out (any thread count)."""
    if num_cores is None:
        return target
    if isinstance(num_cores, bool) or not isinstance(num_cores, int) or num_cores < 1:
        raise UnknownNameError(f"num_cores must be a whole number >= 1, not {num_cores!r}")
    return {**target, "num-cores": num_cores}


def _x86(mcpu: str | None = None, mattr: list[str] | tuple[str, ...] | None = None,
         num_cores: int | None = None) -> TargetSpec:
    target: dict = {"kind": "llvm"}
    if mcpu is not None:
        from lutnas.lowering.cpu_features import check_mcpu

        target["mcpu"] = check_mcpu(mcpu)
    if mattr:
        target["mattr"] = _check_mattr(mattr)
    target = _with_cores(target, num_cores)
    return TargetSpec(
        name="x86",
        target_json=target,
        host_json=None,
        cross_compiler=None,
        debian_package="g++",
        device_type="cpu",
        machine="x86_64",
        elf_machine=ELF_X86_64,
        host_cpu=system_cpu(),
        notes="plain llvm unless mcpu= is given; the commands give this host's CPU to lutnas-cpu builds,"
        " whose rules size vectors by it (plain x86-64 is SSE2)",
        default_pipeline="lutnas-cpu",
    )


def _check_mattr(mattr: list[str] | tuple[str, ...]) -> list[str]:
    """`mattr` as a list if every entry turns one LLVM feature on or off ("+avx2", "-amx-tile")."""
    bad = [a for a in mattr if not isinstance(a, str) or not MATTR_ENTRY.fullmatch(a)]
    if isinstance(mattr, str) or bad:
        raise UnknownNameError(f"mattr must be LLVM features each with + or - (e.g. -amx-tile), not {mattr!r}")
    return list(mattr)


def _arm64(num_cores: int | None = None) -> TargetSpec:
    return TargetSpec(
        name="arm64",
        target_json=_with_cores({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mattr": ["+neon"]}, num_cores),
        host_json=None,
        cross_compiler="aarch64-linux-gnu-g++",
        debian_package="g++-aarch64-linux-gnu",
        device_type="cpu",
        machine="aarch64",
        elf_machine=ELF_AARCH64,
        notes="generic AArch64 with NEON, cross-linked; lutnas-cpu's rules size tiles by NEON's 32 registers"
        " of 4 floats (`cpu_features.vector_unit`)",
        default_pipeline="lutnas-cpu",
    )


def _cuda(arch: str = "sm_80") -> TargetSpec:
    return TargetSpec(
        name="cuda",
        target_json={"kind": "cuda", "arch": arch},
        host_json={"kind": "llvm"},
        cross_compiler=None,
        debian_package="g++",
        device_type="cuda",
        machine="x86_64",
        elf_machine=ELF_X86_64,
        notes="GPU kernels get dlight default schedules from TVM's cuda pipeline",
    )


TARGETS.register("x86", _x86)
TARGETS.register("arm64", _arm64)
TARGETS.register("cuda", _cuda)


def host_cpu_options() -> dict[str, Any]:
    """The x86 factory's options that build for this machine's CPU: LLVM's name for it (`mcpu`) and,
    where this (virtual) CPU lacks instruction sets the name implies, `mattr` turning them off
    (`cpu_features.host_mattr`: a VM that hides AMX), so the build runs here. Empty without LLVM."""
    mcpu = system_cpu()
    if mcpu is None:
        return {}
    from lutnas.lowering.cpu_features import host_mattr

    mattr = host_mattr(mcpu)
    return {"mcpu": mcpu, **({"mattr": list(mattr)} if mattr else {})}


def takes_host_mcpu(spec: TargetSpec) -> bool:
    """Whether `spec` can be built for this host's CPU: its factory takes `mcpu` and it runs on this
    machine (a cross target gets no `-mcpu` read from the build host)."""
    factory = TARGETS.get(spec.name)
    return ("mcpu" in inspect.signature(factory).parameters and spec.machine == platform.machine()
            and system_cpu() is not None)


def takes_num_cores(spec: TargetSpec) -> bool:
    """Whether `spec`'s factory takes `num_cores` (the CPU targets)."""
    return "num_cores" in inspect.signature(TARGETS.get(spec.name)).parameters


def target_names() -> list[str]:
    return TARGETS.names()


def get_target(name: str, **options: Any) -> TargetSpec:
    """The target behind a short name; options (e.g. `mcpu`, `arch`) go to its factory."""
    factory = TARGETS.get(name)
    valid = list(inspect.signature(factory).parameters)
    unknown = sorted(k for k in options if k not in valid)
    if unknown:
        raise UnknownNameError(
            f"unknown option {', '.join(unknown)} for target {name}; valid: {', '.join(valid) or 'none'}"
        )
    return factory(**options)


def resolve_target(target: str | TargetSpec) -> TargetSpec:
    """The target itself, or the registered target of that short name: stage functions take either."""
    return get_target(target) if isinstance(target, str) else target


def target_options(name: str, target_json: dict) -> dict[str, Any]:
    """The options of target `name`'s factory that `target_json` sets: each read from the JSON key it
    writes (`mcpu`, `arch`; `num_cores` from `num-cores`)."""
    keys = {p: p.replace("_", "-") for p in inspect.signature(TARGETS.get(name)).parameters}
    return {p: target_json[key] for p, key in keys.items() if key in target_json}


def target_from_json(name: str, target_json: str | dict) -> TargetSpec:
    """Rebuild the TargetSpec a table or artifact recorded (its short name plus canonical JSON).

    A factory's options are named as the JSON keys they set (`mcpu`, `arch`; `num_cores` sets
    `num-cores`), so they are read back from the JSON; the rebuilt target must reproduce the JSON
    exactly, else the recorded target is not one this lutnas can build (`UnknownNameError` naming both).
    """
    data = json.loads(target_json) if isinstance(target_json, str) else dict(target_json)
    spec = TARGETS.get(name)(**target_options(name, data))
    wanted = json.dumps(data, sort_keys=True, separators=(",", ":"))
    if spec.canonical_json() != wanted:
        raise UnknownNameError(f"recorded target {wanted} is not what target {name!r} builds "
                               f"({spec.canonical_json()})")
    return spec
