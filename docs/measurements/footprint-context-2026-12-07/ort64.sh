#!/bin/bash
# onnxruntime in-network table, proxyless @ 64 px, 1 thread: the light archs of a TVM search's front and random archs
set -x
export PYTHONPATH=/tmp/wt
L=/work/main/.venv/bin/lutnas
D=/tmp/probe/ort64
cd /tmp/wt
time $L profile --space proxyless -r 64 --target x86 --runtime onnxruntime --db $D/ort.db
$L validate --db $D/ort.db --archs /tmp/front.json --out $D/val-front
$L validate --db $D/ort.db -n 8 --seed 1234 --out $D/val-rand
