#!/bin/bash
# fbnet @ 160, 1 thread: an onnxruntime in-network table profiled with the footprint networks
set -x
export PYTHONPATH=/tmp/wt
L=/work/main/.venv/bin/lutnas
D=/tmp/probe/ortfb
cd /tmp/wt
python3 -c "import sys; print(sys.path[:2])"
/work/main/.venv/bin/python -c "import lutnas; print(lutnas.__file__)"
time $L profile --space fbnet -r 160 --target x86 --runtime onnxruntime --db $D/fb.db
