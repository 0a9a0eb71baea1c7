#!/bin/bash
# after the profile: a search at a low budget, its front and random archs validated; both models compared
set -x
export PYTHONPATH=/tmp/wt
PY=/work/main/.venv/bin/python
L=/work/main/.venv/bin/lutnas
D=/tmp/probe/ortfb
cd /tmp/wt
$L sample --space fbnet -n 400 --seed 99 -o $D/pool.json
$L predict --db $D/fb.db --archs $D/pool.json --json > $D/pool-pred.json
B=$($PY -c "import json,numpy as np; p=json.load(open('$D/pool-pred.json')); print(round(float(np.percentile([r['latency_ms'] for r in p],10)),3))")
echo budget $B
$L search --db $D/fb.db --strategy evolution --latency-ms $B --population 16 --generations 8 --out $D/search
$PY -c "
import json
p=json.load(open('$D/search/pareto.json'))
archs=[p['chosen']['arch']]+[f['arch'] for f in p['front']]
seen=[]; [seen.append(a) for a in archs if a not in seen]
json.dump({'space':'fbnet','archs':seen[:8]},open('$D/front.json','w'))"
$L validate --db $D/fb.db --archs $D/front.json --out $D/val-front
$L validate --db $D/fb.db -n 8 --seed 4711 --out $D/val-rand
$PY /tmp/wt/docs/measurements/footprint-context-2026-12-07/compare_ort.py $D/fb.db $D/val-front/report.json $D/val-rand/report.json
