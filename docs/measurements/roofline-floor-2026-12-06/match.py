import json,sys
from collections import defaultdict
d=json.load(open(sys.argv[1]))
tv=[k for k in d['kernels'] if k['runtime']=='tvm']; ort=[k for k in d['kernels'] if k['runtime']!='tvm']
def nhwc(s):
    a,b=s.split('->'); a=[int(x) for x in a.split('x')]; b=[int(x) for x in b.split('x')]
    return (a[-1], b[-1], b[1]) if len(a)==4 and len(b)==4 else None
def nchw(s):
    s=s.split(' ',1)[-1]; a,b=s.split('->'); a=[int(x) for x in a.split('x')]; b=[int(x) for x in b.split('x')]
    return (a[1], b[1], b[2]) if len(a)==4 and len(b)==4 else None
om=defaultdict(list)
for k in ort:
    if k['kind'] in ('conv1x1',):
        key=nchw(k['shape'])
        if key: om[key].append(k['ms']*1e3)
rows=[]
for k in tv:
    if k['kind']=='conv1x1' and k['name'].count('conv2d')==1:
        key=nhwc(k['shape']); o=om.get(key)
        if o: rows.append((k['calls']*(k['ms']*1e3-sum(o)/len(o)), k['shape'], k['calls'], round(k['ms']*1e3,1), round(k['pct_peak']), round(sum(o)/len(o),1)))
rows.sort(reverse=True)
print('sum of (tvm-ort) over matched 1x1', round(sum(r[0] for r in rows)))
for r in rows[:12]: print(round(r[0]), r[1:], round(r[3]/r[5],2))
