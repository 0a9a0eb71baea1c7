"""Device fingerprint: what a latency table was measured on, and which of it must match to compare.

pyperf stores CPU model, versions and system state as metadata on every run and refuses to merge
runs whose checked metadata differ; lutnas does the same for tables. `fingerprint()` collects the
facts; `fingerprint_id()` hashes only the fields that decide latency (CPU model and counts, host CPU
name from LLVM, machine, library versions, target JSON, runtime, threads, emulation), never load,
memory, time, or the governor, which are recorded for diagnosis but change from run to run.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from lutnas.lowering.targets import TargetSpec

VERSIONED_PACKAGES = {
    "tvm": "apache-tvm",
    "tvm_ffi": "apache-tvm-ffi",
    "onnxruntime": "onnxruntime",
    "onnx": "onnx",
    "torch": "torch",
    "numpy": "numpy",
    "numba": "numba",
    "lutnas": "lutnas",
}

ID_FIELDS = (
    "cpu_model", "cpu_logical", "cpu_physical", "host_cpu", "machine",
    "versions", "target_json", "runtime", "threads", "emulated",
)

# Target triple prefixes -> `uname -m` names.
_ARCH_ALIASES = {"arm64": "aarch64", "amd64": "x86_64", "x86-64": "x86_64", "i686": "x86", "armv7": "arm"}


def fingerprint(
    target: TargetSpec | dict[str, Any] | None = None,
    runtime: str = "tvm",
    threads: int = 1,
    emulated: bool | None = None,
    host_cpu: str | None = None,
) -> dict[str, Any]:
    """Facts about this machine and software for a table measured with (target, runtime, threads).

    `target` is a lowering `TargetSpec`, a TVM JSON dict, or None (host llvm). `emulated` is an
    explicit answer from a remote runner; None means detect it here. `host_cpu` overrides LLVM's
    host CPU name (a remote runner reports the board's).
    """
    target_json = _target_json(target)
    cpu = _cpuinfo()
    machine = platform.machine()
    target_arch = _target_arch(target_json, machine)
    if emulated is None:
        emulated, why = detect_emulation(machine, target_arch, cpu)
    else:
        why = "reported by the runner"
    fp = {
        "cpu_model": cpu.get("model name") or cpu.get("cpu model") or cpu.get("hardware") or platform.processor(),
        "cpu_logical": os.cpu_count() or 0,
        "cpu_physical": _physical_cores(cpu),
        "memory_bytes": _memory_bytes(),
        "hypervisor": "hypervisor" in cpu.get("flags", "").split(),
        "os": platform.system(),
        "kernel": platform.release(),
        "machine": machine,
        "python": platform.python_version(),
        "versions": package_versions(),
        "target_name": target.name if isinstance(target, TargetSpec) else None,
        "target_json": target_json,
        "target_arch": target_arch,
        "runtime": runtime,
        "threads": int(threads),
        "thread_env": {k: os.environ.get(k) for k in ("TVM_NUM_THREADS", "OMP_NUM_THREADS")},
        "host_cpu": host_cpu if host_cpu is not None else _llvm_host_cpu(),
        "emulated": bool(emulated),
        "emulation_reason": why,
        "governor": _read_text("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "load_avg": _load_avg(),
    }
    fp["fingerprint_id"] = fingerprint_id(fp)
    return fp


def fingerprint_id(fp: dict[str, Any]) -> str:
    """Short hash of the fields that must match for two tables to be comparable."""
    core = {k: fp.get(k) for k in ID_FIELDS}
    text = json.dumps(core, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def mismatched_fields(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The identity fields on which two fingerprints differ (empty: comparable)."""
    return [k for k in ID_FIELDS if a.get(k) != b.get(k)]


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for short, dist in VERSIONED_PACKAGES.items():
        try:
            out[short] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[short] = None
    return out


def detect_emulation(machine: str, target_arch: str, cpu: dict[str, str] | None = None) -> tuple[bool, str]:
    """(emulated, why). Running under qemu-user shows as an x86 /proc/cpuinfo behind a non-x86
    `uname -m`; a target arch other than the host's can only run through binfmt (qemu-user)."""
    cpu = _cpuinfo() if cpu is None else cpu
    host = _norm_arch(machine)
    if host != "x86_64" and "vendor_id" in cpu and cpu.get("vendor_id", "").startswith(("Authentic", "Genuine")):
        return True, f"uname -m is {machine} but /proc/cpuinfo is x86 (qemu-user)"
    if target_arch and target_arch != host:
        handler = Path("/proc/sys/fs/binfmt_misc") / f"qemu-{target_arch}"
        how = "qemu-user binfmt handler" if handler.exists() else "no binfmt handler found"
        return True, f"target arch {target_arch} on a {host} host ({how})"
    return False, ""


def _target_json(target: TargetSpec | dict[str, Any] | None) -> str:
    if target is None:
        return json.dumps({"kind": "llvm"}, sort_keys=True)
    if isinstance(target, TargetSpec):
        return target.canonical_json()
    if isinstance(target, dict):
        return json.dumps(target, sort_keys=True)
    return str(target)


def _target_arch(target_json: str, machine: str) -> str:
    try:
        spec = json.loads(target_json)
    except json.JSONDecodeError:
        return _norm_arch(machine)
    host = spec.get("host") if isinstance(spec.get("host"), dict) else None
    triple = spec.get("mtriple") or (host or {}).get("mtriple") or ""
    return _norm_arch(triple.split("-")[0]) if triple else _norm_arch(machine)


def _norm_arch(name: str) -> str:
    name = name.lower()
    return _ARCH_ALIASES.get(name, name)


def _cpuinfo() -> dict[str, str]:
    """First processor's fields from /proc/cpuinfo (lower-case keys), plus the physical core set."""
    text = _read_text("/proc/cpuinfo") or ""
    first: dict[str, str] = {}
    cores: set[tuple[str, str]] = set()
    phys = core = ""
    for line in text.splitlines():
        if not line.strip():
            if phys or core:
                cores.add((phys, core))
            phys = core = ""
            continue
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        first.setdefault(key, value)
        if key == "physical id":
            phys = value
        elif key == "core id":
            core = value
    if phys or core:
        cores.add((phys, core))
    first["_physical_cores"] = str(len(cores))
    return first


def _physical_cores(cpu: dict[str, str]) -> int:
    n = int(cpu.get("_physical_cores", "0"))
    if n:
        return n
    try:
        import psutil

        return psutil.cpu_count(logical=False) or os.cpu_count() or 0
    except ImportError:
        return os.cpu_count() or 0


def _memory_bytes() -> int | None:
    for line in (_read_text("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def _load_avg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _llvm_host_cpu() -> str | None:
    try:
        import tvm

        return str(tvm.target.codegen.llvm_get_system_cpu())
    except Exception:  # noqa: BLE001 -- tvm missing or built without LLVM: record that we could not tell
        return None


def _read_text(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None
