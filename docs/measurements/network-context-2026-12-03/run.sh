#!/bin/bash
# profile (default build: lutnas-cpu, host mcpu, context measured) then validate twice, per setting
cd /work/main
export LUTNAS_CACHE=/tmp/m12b/cache
for spec in "proxyless 160 2" "proxyless 128 1" "proxyless 224 1" "ofa-mbv3 128 1" "ofa-mbv3 224 1"; do
  set -- $spec
  d=/tmp/m12d/$1-$2-t$3; mkdir -p $d
  echo "== $1 @ $2 px, $3 thread(s), $(date +%T), load $(cut -d' ' -f1 /proc/loadavg)"
  /usr/bin/time -f "profile wall %e s" .venv/bin/lutnas profile --space $1 -r $2 --threads $3 --db $d/T.db 2>&1 | grep -v "^\s*$" | tail -6
  for k in 1 2; do
    echo "-- validation $k, $(date +%T), load $(cut -d' ' -f1 /proc/loadavg)"
    .venv/bin/lutnas validate --db $d/T.db -n 30 --seed 90210 --out $d/v$k 2>&1 | grep -v "^\s*$" | tail -8
  done
done
echo "done $(date +%T)"
