#!/usr/bin/env bash
# The retrieval rows of the "On a real model" tables from kept needle passes: for each
# PASSES_DIR that `Benchmarks/needles.sh` filled, the scaling, needles retrieved, mean answer
# NLL, and — for passes run by a binary that lists each needle (`passkey --json`'s "each") —
# how retrieval falls with the needle's distance back from its question, in spans of ORIG
# tokens (the length the model was trained at). Reads files only; runs nothing.
#
#   Benchmarks/needles-table.sh DIR...        (e.g. Benchmarks/results/needles-32k-*)
#
# Environment: ORIG (8192).
set -euo pipefail
cd "$(dirname "$0")/.."
(( $# >= 1 )) || { echo "usage: Benchmarks/needles-table.sh PASSES_DIR..." >&2; exit 1; }
python3 - "${ORIG:-8192}" "$@" <<'PY'
import glob, json, os, sys
orig, dirs = int(sys.argv[1]), sys.argv[2:]
rows, spans = [], set()
for d in dirs:
    passes = sorted(glob.glob(os.path.join(d, "pass-*.json")), key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0]))
    if not passes:
        print(f"{d}: no pass-*.json (not a PASSES_DIR of Benchmarks/needles.sh)", file=sys.stderr)
        continue
    runs = [json.load(open(p)) for p in passes]
    settings = open(os.path.join(d, "settings")).read().split() if os.path.exists(os.path.join(d, "settings")) else ["?"]
    needles = sum(r["needles"] for r in runs)
    each = [e for r in runs for e in r.get("each", [])]
    by = {}
    if len(each) == needles:
        for e in each:
            got, n = by.get(e["distance"] // orig, (0, 0))
            by[e["distance"] // orig] = (got + e["retrieved"], n + 1)
        spans.update(by)
    rows.append((settings[0], runs[0]["context"], len(runs), needles, sum(r["retrieved"] for r in runs),
                 sum(r["answer_nll"] * r["needles"] for r in runs) / needles, by, d))
spans = sorted(spans)
head = ["scaling", "context", "passes", "retrieved", "answer NLL"] + [f"{orig * b // 1024}–{orig * (b + 1) // 1024}k back" for b in spans]
print("| " + " | ".join(head) + " |")
print("|---|" + "---:|" * 4 + "---|" * len(spans))
for scaling, context, passes, needles, got, nll, by, d in rows:
    cells = [f"{by[b][0]}/{by[b][1]}" if b in by else ("" if by else "—") for b in spans]
    print("| " + " | ".join([scaling, str(context), str(passes), f"{got}/{needles}", f"{nll:.3f}"] + cells) + " |")
PY
