#!/usr/bin/env python3
# Online logistic regression over hashed binary byte 4-grams of the first N bytes of each raw
# message (headers included), the TREC spam-track design of Goodman & Yih (2006) and Cormack
# (2007): classify, then learn the gold label, in the order of a replay index. Prints
# (1-ROCA)% and spam recall at 0.1 % FPR. Pure Python (2^20 weights); a few minutes per run.
#
#   python3 experiments/byte-ngrams/lr4.py target/sa-replay.index 2500 0.01 [raw|body]

import sys, math, zlib
idx = sys.argv[1]; N = int(sys.argv[2]); rate = float(sys.argv[3]); mode = sys.argv[4] if len(sys.argv)>4 else "raw"
D = 1<<20
w = [0.0]*D
items = [l.split(' ',1) for l in open(idx).read().splitlines()]
scores=[]; labels=[]
for lab, path in items:
    data = open(path.strip(),'rb').read()
    if mode == "body":
        i = data.find(b"\n\n")
        data = data[i+2:] if i>=0 else data
    data = data[:N]
    feats = set()
    for i in range(len(data)-3):
        feats.add(zlib.crc32(data[i:i+4]) & (D-1))
    s = sum(w[f] for f in feats)
    p = 1/(1+math.exp(-max(-30,min(30,s))))
    y = 1 if lab=='spam' else 0
    scores.append(s); labels.append(y)
    g = (y-p)*rate
    for f in feats: w[f]+=g
# ROC AUC
pairs = sorted(zip(scores,labels))
npos = sum(labels); nneg=len(labels)-npos
rank=0; auc=0; i=0
# handle ties
r=1; sumr=0
j=0
while j < len(pairs):
    k=j
    while k<len(pairs) and pairs[k][0]==pairs[j][0]: k+=1
    avg=(j+1+k)/2
    for t in range(j,k):
        if pairs[t][1]==1: sumr+=avg
    j=k
auc=(sumr - npos*(npos+1)/2)/(npos*nneg)
hams = sorted([s for s,l in zip(scores,labels) if l==0], reverse=True)
def rec(fpr):
    k=int(nneg*fpr)
    thr=hams[k]
    return sum(1 for s,l in zip(scores,labels) if l==1 and s>thr)/npos
errs=sum(1 for s,l in zip(scores,labels) if (s>0)!=(l==1))
print(f"N={N} rate={rate} mode={mode} (1-ROCA)%={100*(1-auc):.4f} rec@0.1%={100*rec(0.001):.1f} errs={errs}")
