#!/bin/bash
# After run.sh: merge the new anchor choice into main, redo the two settings whose runs overlapped
# other work, then validate the other tables once more with the new anchors.
while kill -0 12423 2>/dev/null; do sleep 10; done
cd /work/main
git merge -q --ff-only k14 && echo "merged k14: $(git log --oneline -1)"
one() {   # space res threads cache dir
  export LUTNAS_CACHE=$4; d=/tmp/m12e/$5; mkdir -p $d
  echo "== $1 @ $2 px, $3 thread(s), cache $LUTNAS_CACHE, $(date +%T), load $(cut -d' ' -f1 /proc/loadavg)"
  /usr/bin/time -f "profile wall %e s" .venv/bin/lutnas profile --space $1 -r $2 --threads $3 --db $d/T.db 2>&1 | grep -v "^\s*$" | tail -6
  for k in 1 2; do
    echo "-- validation $k, $(date +%T), load $(cut -d' ' -f1 /proc/loadavg)"
    .venv/bin/lutnas validate --db $d/T.db -n 30 --seed 60613 --out $d/v$k 2>&1 | grep -v "^\s*$" | tail -8
  done
}
one proxyless 160 2 /tmp/m12e/cache-empty proxyless-160-t2-again
one proxyless 128 1 /tmp/m12b/cache proxyless-128-t1-again
export LUTNAS_CACHE=/tmp/m12b/cache
for d in proxyless-224-t1 ofa-mbv3-128-t1 ofa-mbv3-224-t1; do
  echo "-- validation 3 (new anchors) of $d, $(date +%T), load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/lutnas validate --db /tmp/m12e/$d/T.db -n 30 --seed 60613 --out /tmp/m12e/$d/v3 2>&1 | grep -v "^\s*$" | tail -8
done
echo "done $(date +%T)"
