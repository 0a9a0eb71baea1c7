import json, sys
from lutnas.latency_tables import open_table
t = open_table(sys.argv[1])
nets = {}
for d in t.entries():
    for p in d.passes:
        m = p.measurement.meta; nets[m["network"]] = list(m["arch"])
json.dump(list(nets.values()), open(sys.argv[2], "w"))
print(len(nets))
