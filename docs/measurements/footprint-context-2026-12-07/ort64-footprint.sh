#!/bin/bash
# the onnxruntime table of ort64.sh profiled again with the footprint code (its 4 footprint networks added), then the same validations
set -x
export PYTHONPATH=/tmp/wt
L=/work/main/.venv/bin/lutnas
D=/tmp/probe/ort64
cd /tmp/wt
time $L profile --space proxyless -r 64 --target x86 --runtime onnxruntime --db $D/ort.db
$L validate --db $D/ort.db --archs /tmp/front.json --out $D/val2-front
$L validate --db $D/ort.db -n 8 --seed 1234 --out $D/val2-rand
/work/main/.venv/bin/python /tmp/probe/ctx/compare_ort.py $D/ort.db $D/val-front/report.json $D/val-rand/report.json $D/val2-front/report.json $D/val2-rand/report.json
