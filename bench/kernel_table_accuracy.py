"""Kernel tables (issue 14): how well per-operator tables predict whole ONNX models, in one run.

Models of eight families written here (ResNet, ShuffleNet-style, MobileNet-style inverted residuals,
VGG-style plain convs, ViT-style encoder, MLP-Mixer; EfficientNet-style MBConv with SiLU and
squeeze-excite, ConvNeXt-style 7x7 depthwise + layer norm + GELU MLP, added after the learned model's
terms were chosen, as families nothing was tuned on), a few variants each (width, depth,
resolution), are exported to ONNX, their fused kernels profiled into a kernel table (one per cache
mode: kernels timed inside their model's loop on its own buffers, hot on random tensors, or with
their arguments but the first flushed before each call), and the
same models measured whole with the profiler's harness. Printed side by side:

1. measured kernels: every model predicted from a table that holds all its kernels; goal: every
   prediction within +/-5% of the measured whole model (and which cache mode gets there);
2. learned kernels on unseen families: the table restricted to the `--train` families
   (`KernelTable.restricted`), every kernel of a `--test` family model that they lack learned
   per kind (`--regressors`); goal: RMSPE <= 8% over the test models;
3. leave one family out: every family in turn predicted from a table of the other five (its
   kernels that they lack learned); the RMSPE over all models is a fairer figure than one split;
4. per kernel kind, the learned kernels' own error against their measured time (diagnostic).

Goals 1 and 2 are also printed drift-corrected, as `lutnas validate --onnx` corrects: the table was
filled minutes before the models are measured, and this VM's speed moves by more than 5% in that
time; the models the table profiled whole are anchors (measured now / stored then) and each row is
scaled by the median of the anchors other than itself (`kernel_validate.KernelDrift`).

Models are built as the CLI builds them (`resolve_build`: x86's default pipeline, this host's
-mcpu) unless `--pipeline` names another.

Timing figures mean something only on a quiet machine (`lutnas doctor`); the full run compiles
about 20 models (minutes) and times a few hundred kernels:

    LUTNAS_CACHE=/tmp/kt-cache .venv/bin/python bench/kernel_table_accuracy.py --out /tmp/kt

`--small` proves the script works in a few minutes (one variant per family at 16 px, short
samples, hot only); its numbers are not evidence of anything.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TVM_NUM_THREADS", "1")

from pathlib import Path

import numpy as np
import torch
from torch import nn

# how a table is read: (fixed-cost source, measured context applied); the first is `lutnas predict`'s
READINGS = (("probes", True), ("probes", False), ("models", False))
FAMILIES = ("resnet", "shufflenet", "mobilenet", "vgg", "vit", "mixer", "effnet", "convnext")


# -- the model families ---------------------------------------------------------------------------------
class Basic(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = nn.Identity() if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride)

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


class Shuffle(nn.Module):
    """ShuffleNetV2's unit: channel split, 1x1 -> depthwise 3x3 -> grouped 1x1, concat, shuffle
    (tests/test_kernel_table.py profiles it too).

    Sizes are Python constants so the export has static slices and reshapes (a traced `chunk` or
    `view(n, ...)` exports Shape/Gather arithmetic that TVM imports as dynamic-shaped kernels)."""

    def __init__(self, channels: int, size: int) -> None:
        super().__init__()
        self.half, self.channels, self.size = channels // 2, channels, size
        h = self.half
        self.branch = nn.Sequential(nn.Conv2d(h, h, 1), nn.ReLU(), nn.Conv2d(h, h, 3, 1, 1, groups=h),
                                    nn.Conv2d(h, h, 1, groups=2), nn.ReLU())

    def forward(self, x):
        y = torch.cat([x[:, : self.half], self.branch(x[:, self.half:])], dim=1)
        y = y.reshape(1, 2, self.half, self.size * self.size).transpose(1, 2)
        return y.reshape(1, self.channels, self.size, self.size)


class Inverted(nn.Module):
    def __init__(self, channels: int, expand: int) -> None:
        super().__init__()
        mid = channels * expand
        self.body = nn.Sequential(nn.Conv2d(channels, mid, 1), nn.ReLU6(), nn.Conv2d(mid, mid, 3, 1, 1, groups=mid),
                                  nn.ReLU6(), nn.Conv2d(mid, channels, 1))

    def forward(self, x):
        return x + self.body(x)


class MBConvSE(nn.Module):
    """EfficientNet's block: 1x1 expand, SiLU, depthwise kxk, SiLU, squeeze-excite gate, 1x1 project."""

    def __init__(self, channels: int, expand: int, kernel: int) -> None:
        super().__init__()
        mid, squeezed = channels * expand, max(channels // 4, 4)
        self.body = nn.Sequential(nn.Conv2d(channels, mid, 1), nn.SiLU(),
                                  nn.Conv2d(mid, mid, kernel, 1, kernel // 2, groups=mid), nn.SiLU())
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(mid, squeezed, 1), nn.SiLU(),
                                  nn.Conv2d(squeezed, mid, 1), nn.Sigmoid())
        self.proj = nn.Conv2d(mid, channels, 1)

    def forward(self, x):
        h = self.body(x)
        return x + self.proj(h * self.gate(h))


class ConvNeXt(nn.Module):
    """ConvNeXt's block: depthwise 7x7, then layer norm and a GELU MLP over channels-last pixels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(channels, channels, 7, 1, 3, groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(nn.Linear(channels, 4 * channels), nn.GELU(), nn.Linear(4 * channels, channels))

    def forward(self, x):
        return x + self.mlp(self.norm(self.dw(x).permute(0, 2, 3, 1))).permute(0, 3, 1, 2)


class Encoder(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.dim = heads, dim
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        t, d, h = x.shape[1], self.dim, self.heads
        q, k, v = self.qkv(self.n1(x)).reshape(1, t, 3, h, d // h).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-2, -1) * (d // h) ** -0.5, dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(1, t, d))
        return x + self.mlp(self.n2(x))


class MixerLayer(nn.Module):
    def __init__(self, tokens: int, dim: int) -> None:
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.tok = nn.Sequential(nn.Linear(tokens, 2 * tokens), nn.GELU(), nn.Linear(2 * tokens, tokens))
        self.ch = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        x = x + self.tok(self.n1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.ch(self.n2(x))


class Tokens(nn.Module):
    """Patch embedding, a stack of token layers, mean over tokens, a linear head."""

    def __init__(self, dim: int, patch: int, layers: list[nn.Module]) -> None:
        super().__init__()
        self.embed, self.layers = nn.Conv2d(3, dim, patch, patch), nn.Sequential(*layers)
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, 10)

    def forward(self, x):
        return self.head(self.norm(self.layers(self.embed(x).flatten(2).transpose(1, 2))).mean(dim=1))


def build(family: str, variant: int, res: int) -> nn.Module:
    """Variant v of a family: wider / deeper as v grows, at input resolution `res`."""
    torch.manual_seed(variant)
    w = 8 * (variant + 1)
    if family == "resnet":
        body = [nn.Conv2d(3, w, 3, 1, 1), nn.ReLU(), Basic(w, w, 1), Basic(w, 2 * w, 2), Basic(2 * w, 2 * w, 1)]
        return nn.Sequential(*body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * w, 10))
    if family == "shufflenet":
        size = res // 2
        units = [Shuffle(2 * w, size) for _ in range(2 + variant)]
        return nn.Sequential(nn.Conv2d(3, 2 * w, 3, 2, 1), nn.ReLU(), *units, nn.AvgPool2d(size), nn.Flatten(),
                             nn.Linear(2 * w, 10))
    if family == "mobilenet":
        body = [nn.Conv2d(3, w, 3, 2, 1), nn.ReLU6(), *[Inverted(w, 4) for _ in range(2 + variant)]]
        return nn.Sequential(*body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w, 10))
    if family == "vgg":
        layers: list[nn.Module] = []
        cin = 3
        for cout in (w, 2 * w, 2 * w):
            layers += [nn.Conv2d(cin, cout, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2)]
            cin = cout
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * (res // 8) ** 2, 10))
    if family == "effnet":
        body = [nn.Conv2d(3, w, 3, 2, 1), nn.SiLU(), *[MBConvSE(w, 4, 5) for _ in range(2 + variant)]]
        return nn.Sequential(*body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w, 10))
    if family == "convnext":
        body = [nn.Conv2d(3, 2 * w, 4, 4), *[ConvNeXt(2 * w) for _ in range(1 + variant)]]
        return nn.Sequential(*body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * w, 10))
    patch, dim = 4, 2 * w
    tokens = (res // patch) ** 2
    if family == "vit":
        return Tokens(dim, patch, [Encoder(dim, 2) for _ in range(1 + variant)])
    if family == "mixer":
        return Tokens(dim, patch, [MixerLayer(tokens, dim) for _ in range(1 + variant)])
    raise SystemExit(f"unknown family {family!r}; valid: {', '.join(FAMILIES)}")


def export_models(families: list[str], variants: int, resolutions: list[int], out: Path) -> dict[str, tuple[str, Path]]:
    """{model name: (family, ONNX path)} for every family x variant x resolution."""
    from lutnas.lowering import export_onnx

    models = {}
    for family in families:
        for v in range(variants):
            for res in resolutions:
                name = f"{family}{v}-r{res}"
                path = out / "onnx" / f"{name}.onnx"
                if not path.is_file():
                    export_onnx(build(family, v, res).eval(), (1, 3, res, res), path)
                models[name] = (family, path)
    return models


# -- scoring --------------------------------------------------------------------------------------------
def stats(pred: list[float], meas: list[float]) -> dict[str, float]:
    rel = (np.asarray(pred) - np.asarray(meas)) / np.asarray(meas)
    return {"n": int(rel.size), "within_5": float(np.mean(np.abs(rel) <= 0.05)),
            "within_10": float(np.mean(np.abs(rel) <= 0.10)), "mape": float(np.mean(np.abs(rel))),
            "rmspe": float(np.sqrt(np.mean(rel ** 2))), "max_abs": float(np.max(np.abs(rel)))}


def row_stats(rows: list[dict]) -> dict[str, float]:
    return stats([r["predicted"] for r in rows], [r["measured"] for r in rows])


def line(label: str, s: dict[str, float]) -> str:
    return (f"{label:42s} n={s['n']:2d}  within ±5% {s['within_5']:5.0%}  ±10% {s['within_10']:5.0%}  "
            f"MAPE {s['mape']:6.1%}  RMSPE {s['rmspe']:6.1%}  max {s['max_abs']:6.1%}")


def goal_measured(table, models: dict[str, tuple[str, Path]], measured: dict[str, float]) -> dict:
    """Goal 1: every model from a table holding all its kernels."""
    from lutnas.latency_tables.kernel_table import model_kernels, read_models

    rows = []
    for m in read_models([p for _, p in models.values()]):
        p = table.predict(model_kernels(table, m), m.name)
        rows.append({"model": m.name, "measured": measured[m.name], "predicted": p.latency_ms,
                     "kernels_ms": p.measured_ms, "fixed_ms": p.fixed_ms, "learned": len(p.missing),
                     "rel_error": (p.latency_ms - measured[m.name]) / measured[m.name]})
    return {"rows": rows, "stats": row_stats(rows), **drift_corrected(table, models, measured, rows)}


def goal_learned(table, models: dict[str, tuple[str, Path]], measured: dict[str, float], train: list[str],
                 test: list[str], zoo: bool = True) -> dict:
    """Goal 2: test-family models from the table restricted to the train families' models (and its zoo)."""
    rows, kernel_err = learned_rows(table, models, measured, train, test, zoo)
    view = table.restricted([n for n, (fam, _) in models.items() if fam in train], zoo)
    return {"rows": rows, "stats": row_stats(rows), **drift_corrected(view, models, measured, rows),
            "kernel_rmspe_by_kind": kind_rmspe(kernel_err)}


def drift_corrected(table, models: dict[str, tuple[str, Path]], measured: dict[str, float], rows: list[dict]) -> dict:
    """`validate --onnx`'s drift correction: anchors are the measured models the table (or its restricted
    view) profiled whole; each row scaled by the median drift of the anchors other than itself."""
    from lutnas.latency_tables.kernel_table import read_models
    from lutnas.latency_tables.kernel_validate import ModelLatency, build_drift

    onnx = read_models([p for _, p in models.values()])
    drift = build_drift(onnx, [ModelLatency(m.name, str(m.path), measured[m.name], 1, False, "") for m in onnx],
                        table.profiled_wholes())
    pairs = [(r["predicted"] * f, r["measured"]) for r in rows if (f := drift.factor_for(r["model"])) is not None]
    if not pairs:
        return {"drift": drift.to_dict()}
    return {"drift": drift.to_dict(), "corrected_stats": stats(*zip(*pairs))}


def leave_one_out(table, models: dict[str, tuple[str, Path]], measured: dict[str, float], zoo: bool = True) -> dict:
    """Every family predicted from the table restricted to all the other families' models (and its zoo)."""
    families = sorted({fam for fam, _ in models.values()})
    rows, kernel_err = [], {}
    for fam in families:
        fam_rows, fam_err = learned_rows(table, models, measured, [f for f in families if f != fam], [fam], zoo)
        rows += fam_rows
        for kind, errs in fam_err.items():
            kernel_err.setdefault(kind, {}).update(errs)
    return {"rows": rows, "stats": row_stats(rows),
            "by_family": by_family(rows, models), "kernel_rmspe_by_kind": kind_rmspe(kernel_err)}


def by_family(rows: list[dict], models: dict[str, tuple[str, Path]]) -> dict[str, dict[str, float]]:
    """`row_stats` of each family's rows."""
    families = sorted({models[r["model"]][0] for r in rows})
    return {fam: row_stats([r for r in rows if models[r["model"]][0] == fam]) for fam in families}


def kind_rmspe(kernel_err: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {k: {"kernels": len(v), "rmspe": float(np.sqrt(np.mean(np.square(list(v.values())))))}
            for k, v in sorted(kernel_err.items())}


def learned_rows(table, models: dict[str, tuple[str, Path]], measured: dict[str, float], train: list[str],
                 test: list[str], zoo: bool = True) -> tuple[list[dict], dict[str, dict[str, float]]]:
    """Per test model its prediction from the train families' kernels, and each learned kernel's error."""
    from lutnas.latency_tables.kernel_table import model_kernels, read_models

    view = table.restricted([n for n, (fam, _) in models.items() if fam in train], zoo)
    rows, kernel_err = [], {}
    est = table.estimates()
    for m in read_models([p for n, (fam, p) in models.items() if fam in test]):
        p = view.predict(model_kernels(view, m), m.name)
        rows.append({"model": m.name, "measured": measured[m.name], "predicted": p.latency_ms,
                     "learned_share": p.learned_ms / p.latency_ms,
                     "rel_error": (p.latency_ms - measured[m.name]) / measured[m.name]})
        for t in p.missing:
            if t.signature in est:
                kernel_err.setdefault(t.kind, {})[t.signature] = (t.ms_per_call - est[t.signature]) / est[t.signature]
    return rows, kernel_err


def report_learned(table, models: dict[str, tuple[str, Path]], measured: dict[str, float], train: list[str],
                   test: list[str], label: str, zoo: bool) -> tuple[dict, dict]:
    """Goal 2 and leave-one-family-out, printed; with or without the table's zoo kernels."""
    g2 = goal_learned(table, models, measured, train, test, zoo)
    print(line(f"unseen [{label}]", g2["stats"]))
    if "corrected_stats" in g2:
        print(line(f"  drift-corrected (median x{g2['drift']['median']:.3f})", g2["corrected_stats"]))
    print("    by family: " + ", ".join(f"{fam} {st['rmspe']:.0%}" for fam, st in by_family(g2["rows"], models).items()))
    print(f"    learned kernels' RMSPE by kind: {kinds_line(g2)}")
    g3 = leave_one_out(table, models, measured, zoo)
    print(line(f"leave one family out [{label}]", g3["stats"]))
    print("    by family: " + ", ".join(f"{fam} {s['rmspe']:.0%}" for fam, s in g3["by_family"].items()))
    print(f"    learned kernels' RMSPE by kind: {kinds_line(g3)}")
    return g2, g3


def kinds_line(result: dict) -> str:
    return ", ".join(f"{k} {v['rmspe']:.0%} ({v['kernels']})" for k, v in result["kernel_rmspe_by_kind"].items())


# -- the run --------------------------------------------------------------------------------------------
def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="work directory (ONNX files, kernel db, summary.json)")
    ap.add_argument("--train", default="resnet,shufflenet,vit", help="families the table is filled from (goal 2)")
    ap.add_argument("--test", default="mobilenet,vgg,mixer,effnet,convnext", help="families never profiled (goal 2)")
    ap.add_argument("--variants", type=int, default=2)
    ap.add_argument("--resolutions", default="32,64")
    ap.add_argument("--cache-modes", default="in-model,hot")
    ap.add_argument("--regressors", default="linear,forest")
    ap.add_argument("--zoo", type=int, default=32, help="sampled zoo networks profiled into the table too "
                    "(`profile --zoo`); goal 2 is printed without and with their kernels (0: none)")
    ap.add_argument("--pipeline", default=None, help="default: x86's default pipeline (as the CLI resolves it)")
    ap.add_argument("--repeats", type=int, default=None, help="samples per pass (default: the kernel stage's, "
                    "KERNEL_REPEATS, for kernels; the harness's for whole models)")
    ap.add_argument("--min-repeat-ms", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--small", action="store_true", help="prove the script runs (numbers mean nothing)")
    args = ap.parse_args()
    if args.small:
        args.variants, args.resolutions, args.cache_modes, args.zoo = 1, "16", "hot", min(args.zoo, 2)
        args.repeats, args.min_repeat_ms = 3, 1.0
    return args


def main() -> None:
    from lutnas.latency_tables.kernel_table import (
        KERNEL_POLICY,
        KERNEL_REPEATS,
        KernelSettings,
        open_kernel_table,
        profile_models,
    )
    from lutnas.latency_tables.kernel_validate import ground_truth_retest, measure_models
    from lutnas.lowering.pipeline import resolve_build
    from lutnas.profiler.doctor import run_checks
    from lutnas.profiler.stability import StabilityPolicy

    args = parse()
    train, test = args.train.split(","), args.test.split(",")
    build = resolve_build("x86", pipeline=args.pipeline)
    pipeline, target = build.pipeline, build.target
    print(build.describe())
    models = export_models(train + test, args.variants, [int(r) for r in args.resolutions.split(",")], args.out)
    paths = [p for _, p in models.values()]
    policy = StabilityPolicy(max_passes=1) if args.small else StabilityPolicy()
    kernel_policy = StabilityPolicy(max_passes=1) if args.small else KERNEL_POLICY
    load = [c.value for c in run_checks(["load-average"])]
    print(f"{len(models)} models ({', '.join(train)} | unseen: {', '.join(test)}), pipeline {pipeline}, load {load}")
    tables = {}
    for mode in args.cache_modes.split(","):
        settings = KernelSettings(cache_mode=mode, repeats=args.repeats or KERNEL_REPEATS,
                                  min_repeat_ms=args.min_repeat_ms)
        r = profile_models(paths, target, args.out / "kernels.db", pipeline=pipeline, settings=settings,
                           policy=kernel_policy, workers=args.workers, progress=False, zoo=args.zoo)
        tables[mode] = r.table_id
        print(f"[{mode}] " + " | ".join(r.lines()[1:]))
    latencies = measure_models(paths, target, pipeline=pipeline, policy=policy, progress=False,
                               workers=args.workers, repeats=args.repeats, min_repeat_ms=args.min_repeat_ms)
    measured = {m.model: m.latency_ms for m in latencies}
    truth = ground_truth_retest(latencies)
    print(f"ground truth: models whole, odd vs even cycles: {truth.line()} (the band a ±5% goal is read against)")
    summary: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "load": load, "measured": measured,
                     "ground_truth_retest": {"median": truth.median, "p95": truth.p95},
                     "goal_measured": {}, "goal_learned": {},
                     "leave_one_family_out": {}}
    for mode, table_id in tables.items():
        for fixed, context in READINGS:
            for n, regressor in enumerate(args.regressors.split(",")):
                table = open_kernel_table(args.out / "kernels.db", table_id, regressor, fixed, context)
                reading = f"{fixed}{'' if context else ', no context'}"
                if n == 0:
                    g1 = summary["goal_measured"][f"{mode}/{reading}"] = goal_measured(table, models, measured)
                    ctx = table.context()
                    print(line(f"measured kernels [{mode}, fixed {reading}, context x{ctx.factor:.3f} + "
                               f"{ctx.per_call_ms * 1e3:.3f} us/call]", g1["stats"]))
                    print(line(f"  drift-corrected (median x{g1['drift']['median']:.3f})", g1["corrected_stats"]))
                    for row in g1["rows"]:
                        print(f"    {row['model']:18s} measured {row['measured']:9.4f} ms  predicted "
                              f"{row['predicted']:9.4f} ms  ({row['rel_error']:+6.1%}; fixed {row['fixed_ms']:.4f})")
                for zoo in ([False, True] if args.zoo else [False]):
                    label = f"{mode}, fixed {reading}, {regressor}{', +zoo' if zoo else ''}"
                    key = f"{mode}/{reading}/{regressor}{'/zoo' if zoo else ''}"
                    summary["goal_learned"][key], summary["leave_one_family_out"][key] = report_learned(
                        table, models, measured, train, test, label, zoo)
                table.ks.store.close()
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"goals: measured kernels within ±5% for every model; unseen families RMSPE <= 8%. "
          f"wrote {args.out / 'summary.json'}")


if __name__ == "__main__":
    main()
