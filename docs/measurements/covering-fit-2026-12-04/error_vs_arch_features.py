"""Do held-out archs' corrected errors (two validations) and covering networks' left-out errors
correlate with arch-level features? fbnet/ofa tables of several runs."""
import json, sys
from pathlib import Path
import numpy as np
from lutnas.latency_tables import open_table
from lutnas.latency_tables.covering import covering_fit
from lutnas.spaces import get_space

def feats(space, arch):
    names = [space.choice_names(l)[c] for l, c in enumerate(arch)]
    f = {"g2": sum("g2" in n for n in names), "skip": sum(n == "skip" for n in names),
         "e6": sum("e6" in n for n in names), "k5+": sum(n.startswith(("k5", "k7")) for n in names),
         "e1": sum("_e1" in n for n in names)}
    # early-layer shuffles (first 8 layers)
    f["g2_early"] = sum("g2" in n for n in names[:8])
    # shuffle followed by a non-skip block
    f["g2_then"] = sum("g2" in names[i] and names[i + 1] != "skip" for i in range(len(names) - 1))
    return f

for d in [Path(x) for x in sys.argv[1:]]:
    space = get_space(d.name.split("-1")[0].rsplit("-", 0)[0].replace("-128", "").replace("-160", "")) if False else None
    sname = "-".join(d.name.split("-")[:-2]); space = get_space(sname)
    t = open_table(d / "table.db"); cf = covering_fit(t)
    arch_of = {}
    for e in t.entries():
        for p in e.passes:
            arch_of[p.measurement.meta["network"]] = p.measurement.meta["arch"]
    t.close()
    rows = json.loads((d / "v1" / "report.json").read_text())["rows"]
    rows2 = json.loads((d / "v2" / "report.json").read_text())["rows"]
    err = np.array([(a["corrected_rel_error"] + b["corrected_rel_error"]) / 2 for a, b in zip(rows, rows2)])
    F = [feats(space, r["arch"]) for r in rows]
    loo = cf.held_out_ms / cf.latency_ms - 1
    Fc = [feats(space, arch_of[n]) for n in cf.networks]
    out = []
    for k in F[0]:
        x = np.array([f[k] for f in F], float); xc = np.array([f[k] for f in Fc], float)
        if x.std() == 0: continue
        out.append(f"{k} {np.corrcoef(x, err)[0,1]:+.2f}/{np.corrcoef(xc, loo)[0,1]:+.2f}")
    pred = np.array([r["predicted"] for r in rows])
    out.append(f"pred_ms {np.corrcoef(pred, err)[0,1]:+.2f}/{np.corrcoef(cf.held_out_ms, loo)[0,1]:+.2f}")
    print(f"{d.parent.name}/{d.name}: " + "  ".join(out))
