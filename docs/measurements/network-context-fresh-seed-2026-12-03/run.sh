#!/bin/bash
# Issue 12 re-validation with a seed never used in the project (60613).
# profile (default build: lutnas-cpu, host mcpu, context measured) then validate twice, per setting.
# proxyless @160 2 thr runs first with an EMPTY library cache (profile-time figure of issue 12 item 5).
cd /work/main
for spec in "proxyless 160 2 empty" "proxyless 128 1 warm" "proxyless 224 1 warm" "ofa-mbv3 128 1 warm" "ofa-mbv3 224 1 warm"; do
  set -- $spec
  if [ $4 = empty ]; then export LUTNAS_CACHE=/tmp/m12e/cache-empty; rm -rf $LUTNAS_CACHE; else export LUTNAS_CACHE=/tmp/m12b/cache; fi
  d=/tmp/m12e/$1-$2-t$3; mkdir -p $d
  echo "== $1 @ $2 px, $3 thread(s), cache $4 ($LUTNAS_CACHE), $(date +%T), load $(cut -d' ' -f1 /proc/loadavg)"
  /usr/bin/time -f "profile wall %e s" .venv/bin/lutnas profile --space $1 -r $2 --threads $3 --db $d/T.db 2>&1 | grep -v "^\s*$" | tail -6
  for k in 1 2; do
    echo "-- validation $k, $(date +%T), load $(cut -d' ' -f1 /proc/loadavg)"
    .venv/bin/lutnas validate --db $d/T.db -n 30 --seed 60613 --out $d/v$k 2>&1 | grep -v "^\s*$" | tail -8
  done
done
echo "done $(date +%T)"
