#!/bin/bash
# ofa-mbv3 @ 160 px, 2 threads: profile with the footprint context, a search's front at a low budget and random archs validated, the models compared
set -x
export PYTHONPATH=/tmp/wt
PY=/work/main/.venv/bin/python
L=/work/main/.venv/bin/lutnas
D=/tmp/probe/ofa160
cd /tmp/wt
time $L profile --space ofa-mbv3 -r 160 --threads 2 --target x86 --runtime tvm --db $D/t.db
$L sample --space ofa-mbv3 -n 400 --seed 99 -o $D/pool.json
$L predict --db $D/t.db --archs $D/pool.json --json > $D/pool-pred.json
B=$($PY -c "import json,numpy as np; p=json.load(open('$D/pool-pred.json')); print(round(float(np.percentile([r['latency_ms'] for r in p],10)),3))")
echo budget $B
$L search --db $D/t.db --strategy evolution --latency-ms $B --population 16 --generations 8 --out $D/search
$PY -c "
import json
p=json.load(open('$D/search/pareto.json'))
archs=[p['chosen']['arch']]+[f['arch'] for f in p['front']]
seen=[]; [seen.append(a) for a in archs if a not in seen]
json.dump({'space':'ofa-mbv3','archs':seen[:8]},open('$D/front.json','w'))"
$L validate --db $D/t.db --archs $D/front.json --out $D/val-front
$L validate --db $D/t.db -n 8 --seed 4711 --out $D/val-rand
$PY /tmp/wt/docs/measurements/footprint-context-2026-12-07/compare.py $D/t.db $D/val-front/report.json $D/val-rand/report.json
