#!/bin/bash
# fbnet @ 224, 1 thread: profile (with the footprint context), search fronts at two budgets, validate fronts and random archs
set -x
export PYTHONPATH=/tmp/wt
L=/work/main/.venv/bin/lutnas
D=/tmp/probe/fb224
cd /tmp/wt
python3 -c "import sys; print(sys.path[:2])"
/work/main/.venv/bin/python -c "import lutnas; print(lutnas.__file__)"
time $L profile --space fbnet -r 224 --target x86 --runtime tvm --db $D/fb.db
