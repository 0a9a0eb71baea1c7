#!/bin/bash
# alternate env configs, one process each
for rep in 1 2 3; do
  for cfg in default bind0 excl0 spin0; do
    case $cfg in
      default) env=();;
      bind0) env=(TVM_BIND_THREADS=0);;
      excl0) env=(TVM_EXCLUDE_WORKER0=0);;
      spin0) env=(TVM_THREAD_POOL_SPIN_COUNT=0);;
    esac
    env TVM_NUM_THREADS=2 "${env[@]}" /work/main/.venv/bin/python envtime.py 3 $cfg 2>/dev/null | tail -1 >> envres.jsonl
  done
done
