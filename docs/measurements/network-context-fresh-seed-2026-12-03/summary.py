"""One line per validation: raw and round-corrected shares within ±10 / ±5 %, bias, the band, anchors."""
import json, sys
from pathlib import Path
import numpy as np
for rep in sorted(Path(sys.argv[1]).glob("*/v*/report.json")):
    r = json.loads(rep.read_text())
    rows = [x for x in r["rows"] if x["role"] == "score"]
    raw = np.array([x["rel_error"] for x in rows]); cor = np.array([x["corrected_rel_error"] for x in rows])
    share = lambda e, b: f"{np.mean(np.abs(e) <= b):.1%}"
    d = r["drift"]; band = r["repeatability"]["band"]
    print(f"{rep.parent.parent.name:24s} {rep.parent.name}  raw {share(raw,.10)}/{share(raw,.05)} bias {np.mean(raw):+.1%}  "
          f"corrected {share(cor,.10)}/{share(cor,.05)} bias {np.mean(cor):+.1%}  band ±{band:.1%}  "
          f"anchors {len(d['then'])} x{d['factor']:.3f} disagree x{d['disagreement']:.3f}")
