#!/usr/bin/env bash
# The matrix-product table of issue 12 (a benchmark, not a test): our lr_matmul per weight type
# and shape against OpenBLAS sgemm on the same shape and this core's AVX-512 FMA peak, all on
# one pinned core, A B A B (two rounds; the table shows each figure's median over the rounds).
#
#   Benchmarks/kernels.sh [ROUNDS]          (installs libopenblas-dev with apt-get when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
shapes=${SHAPES:-576x576,1536x576,576x1536,4096x4096,11008x4096,4096x11008}
tokens=512
if [ ! -e /usr/include/x86_64-linux-gnu/cblas.h ] && [ ! -e /usr/include/cblas.h ]; then
    echo "installing libopenblas-dev (the sgemm reference)" >&2
    apt-get install -y -q libopenblas-dev >&2
fi
swift build -c release --product longrope-bench >&2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cc -O3 -march=native -o "$work/sgemm" Benchmarks/sgemm.c -lopenblas
# OpenBLAS picks its Haswell (AVX2) kernels here unless told; SkylakeX is its AVX-512 path.
export OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=${SGEMM_CORETYPE:-SkylakeX}
core=${CORE:-0}
for round in $(seq "$rounds"); do
    echo "round $round: peak, sgemm, ours" >&2
    echo "peak $(taskset -c "$core" "$work/sgemm" peak)" >> "$work/raw"
    for shape in ${shapes//,/ }; do
        rows=${shape%x*}; k=${shape#*x}
        echo "sgemm $rows $k $(taskset -c "$core" "$work/sgemm" sgemm "$rows" "$k" $tokens 3)" >> "$work/raw"
    done
    taskset -c "$core" .build/release/longrope-bench matmul --shapes "$shapes" --tokens $tokens --repeats 3 --json \
        | python3 -c 'import json,sys
for l in sys.stdin:
    r=json.loads(l); print("ours", r["type"], r["rows"], r["k"], r["gflops"])' >> "$work/raw"
done
python3 - "$work/raw" "$tokens" <<'PY'
import sys, statistics as st
peak, sgemm, ours, types, shapes = [], {}, {}, [], []
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "peak": peak.append(float(f[1]))
    elif f[0] == "sgemm":
        sgemm.setdefault((int(f[1]), int(f[2])), []).append(float(f[3]))
        if (int(f[1]), int(f[2])) not in shapes: shapes.append((int(f[1]), int(f[2])))
    else:
        ours.setdefault((f[1], int(f[2]), int(f[3])), []).append(float(f[4]))
        if f[1] not in types: types.append(f[1])
p = st.median(peak)
print(f"One core, {sys.argv[2]} tokens, GFLOP/s (median of the rounds); FMA peak {p:.0f} GFLOP/s.")
print("In brackets: share of OpenBLAS sgemm on the same shape. K-quants need K % 256 = 0.\n")
print("| shape (rows×K) | sgemm | " + " | ".join(types) + " |")
print("|---|---|" + "---|" * len(types))
for s in shapes:
    ref = st.median(sgemm[s])
    cells = []
    for t in types:
        v = ours.get((t,) + s)
        cells.append(f"{st.median(v):.0f} ({st.median(v) / ref:.0%})" if v else "—")
    print(f"| {s[0]}×{s[1]} | {ref:.0f} ({ref / p:.0%} of peak) | " + " | ".join(cells) + " |")
PY
