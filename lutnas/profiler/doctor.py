"""`lutnas doctor`: what on this machine makes latency measurements noisy (pyperf `_system.py` idea).

Each check is a small object with a `name` and a `run() -> CheckResult` (status "ok", "warn" or
"skip" when the fact cannot be read here, a one-line value, and advice when it warns); checks are
looked up in a registry so new ones plug in without touching `run_checks()`. Nothing here changes
the system: it only reads /proc, /sys, the environment and psutil.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lutnas.registry import Registry


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str          # "ok" | "warn" | "skip"
    value: str
    advice: str = ""


class Check(Protocol):
    name: str

    def run(self) -> CheckResult: ...


CHECKS: Registry[Check] = Registry("doctor check")


def run_checks(names: list[str] | None = None) -> list[CheckResult]:
    return [CHECKS.get(n).run() for n in (names or CHECKS.names())]


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _register(cls: type) -> type:
    CHECKS.register(cls.name, cls())
    return cls


@_register
class GovernorCheck:
    name = "cpu-governor"

    def run(self) -> CheckResult:
        paths = sorted(Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_governor"))
        govs = sorted({g for g in (_read(str(p)) for p in paths) if g})
        if not govs:
            return CheckResult(self.name, "skip", "not readable (no cpufreq; common in VMs)")
        if govs != ["performance"]:
            return CheckResult(self.name, "warn", ",".join(govs),
                               "set the governor to performance: cpupower frequency-set -g performance")
        return CheckResult(self.name, "ok", "performance")


@_register
class TurboCheck:
    name = "turbo-boost"

    def run(self) -> CheckResult:
        no_turbo = _read("/sys/devices/system/cpu/intel_pstate/no_turbo")
        boost = _read("/sys/devices/system/cpu/cpufreq/boost")
        if no_turbo is None and boost is None:
            return CheckResult(self.name, "skip", "not readable")
        on = (no_turbo == "0") if no_turbo is not None else (boost == "1")
        if on:
            return CheckResult(self.name, "warn", "enabled",
                               "turbo makes frequency depend on temperature and load; disable it for stable tables")
        return CheckResult(self.name, "ok", "disabled")


@_register
class LoadCheck:
    name = "load-average"

    def run(self) -> CheckResult:
        try:
            one, five, _ = os.getloadavg()
        except OSError:
            return CheckResult(self.name, "skip", "not readable")
        cpus = os.cpu_count() or 1
        value = f"{one:.2f} (1 min), {five:.2f} (5 min) on {cpus} CPUs"
        if one >= 0.5 * cpus:
            return CheckResult(self.name, "warn", value, "the machine is busy; measure when it is idle")
        return CheckResult(self.name, "ok", value)


@_register
class BusyProcessCheck:
    name = "busy-processes"
    threshold_percent = 20.0

    def run(self) -> CheckResult:
        try:
            import psutil
        except ImportError:
            return CheckResult(self.name, "skip", "psutil not installed")
        me = os.getpid()
        procs = [p for p in psutil.process_iter(["pid", "name"]) if p.pid != me]
        for p in procs:
            try:
                p.cpu_percent(None)
            except psutil.Error:
                pass
        psutil.cpu_percent(0.3)  # the sampling window for the per-process numbers
        busy = []
        for p in procs:
            try:
                pct = p.cpu_percent(None)
            except psutil.Error:
                continue
            if pct >= self.threshold_percent:
                busy.append((pct, p.info["name"], p.pid))
        busy.sort(reverse=True)
        if busy:
            top = ", ".join(f"{name}[{pid}] {pct:.0f}%" for pct, name, pid in busy[:3])
            return CheckResult(self.name, "warn", top, "stop these or wait before profiling")
        return CheckResult(self.name, "ok", f"none above {self.threshold_percent:.0f}% CPU")


@_register
class ThreadEnvCheck:
    name = "thread-env"

    def run(self) -> CheckResult:
        values = {k: os.environ.get(k) for k in ("TVM_NUM_THREADS", "OMP_NUM_THREADS")}
        value = ", ".join(f"{k}={v if v is not None else 'unset'}" for k, v in values.items())
        if values["TVM_NUM_THREADS"] is None:
            return CheckResult(self.name, "warn", value,
                               "TVM sizes its thread pool from TVM_NUM_THREADS at first use; set it explicitly")
        return CheckResult(self.name, "ok", value)


@_register
class VirtualMachineCheck:
    name = "virtual-machine"

    def run(self) -> CheckResult:
        info = _read("/proc/cpuinfo")
        if info is None:
            return CheckResult(self.name, "skip", "no /proc/cpuinfo")
        flags = next((line for line in info.splitlines() if line.startswith(("flags", "Features"))), "")
        if "hypervisor" in flags.split():
            return CheckResult(self.name, "warn", "running under a hypervisor",
                               "steal time from neighbours adds noise; expect 10-35% run-to-run spread, "
                               "re-measure in several passes")
        return CheckResult(self.name, "ok", "bare metal (no hypervisor flag)")


@_register
class HostCpuCheck:
    """What x86 builds for this machine are built for: LLVM's name for its CPU, and what that name
    implies that this (virtual) CPU does not enable, which the builds turn off (`cpu_features.host_mattr`)."""

    name = "host-cpu"

    def run(self) -> CheckResult:
        from lutnas.lowering.targets import host_cpu_options

        options = host_cpu_options()
        if not options:
            return CheckResult(self.name, "skip", "LLVM not available: the CPU's name cannot be read")
        hidden = [a[1:] for a in options.get("mattr", ())]
        value = f"LLVM names it {options['mcpu']}"
        if hidden:
            value += f"; it lacks {', '.join(hidden)} of that name, which x86 builds turn off (-mattr)"
        return CheckResult(self.name, "ok", value)
