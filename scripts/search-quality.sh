#!/usr/bin/env bash
# The search-quality benchmark (not a test): for each case, searches with each lever on and
# off, every result and every rule scored by perplexity on text the search never used
# (fitness on bytes 700,001–750,000 of tinystories-valid.txt, scoring from byte 750,001 on;
# tinystories-3M never saw any of it, stories260K was trained on other TinyStories text).
# Prints one JSON object per line into runs/quality/*.jsonl and a table; hours on 2 cores.
#
#   scripts/search-quality.sh [CASE ...]      CASE: ts3m-8 ts3m-16 s260k-8 s260k-16 (default: all)
#   LEVERS=v1,m scripts/search-quality.sh ts3m-8
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${LONGROPE_SHARED:-../shared}
swift build -c release --product longrope-bench >&2
bench=.build/release/longrope-bench
mkdir -p runs/quality
text=$shared/text/tinystories-valid.txt
run() {   # name model original target windows levers
    local name=$1 model=$2 original=$3 target=$4 windows=$5 levers=${LEVERS:-$6}
    echo "== $name: $levers" >&2
    "$bench" quality --model "$model" --text "$text" --fitness-bytes 700000:750000 --score-from 750000 \
        --original-context "$original" --target-context "$target" --windows "$windows" \
        --population 32 --iterations 10 --levers "$levers" --json | tee -a "runs/quality/$name.jsonl"
}
cases=${*:-ts3m-8 ts3m-16 s260k-8 s260k-16}
for c in $cases; do
    case $c in
        ts3m-8)   run ts3m-8 "$shared/models/tinystories-3M-ctx256.gguf" 256 2048 3 v1,m,default,rcd,key-tokens,needle,nhat ;;
        ts3m-16)  run ts3m-16 "$shared/models/tinystories-3M-ctx256.gguf" 256 4096 3 v1,m,default,rcd,key-tokens ;;
        s260k-8)  run s260k-8 "$shared/models/stories260K.gguf" 512 4096 3 v1,m,default,rcd,key-tokens ;;
        s260k-16) run s260k-16 "$shared/models/stories260K.gguf" 512 8192 2 v1,m,default ;;
        *) echo "unknown case $c (ts3m-8 ts3m-16 s260k-8 s260k-16)" >&2; exit 2 ;;
    esac
done
python3 - runs/quality/*.jsonl <<'PY'
import json, sys
print("| case | lever | fitness | held-out ppl | best rule | ratio | key-token ppl | best rule (key tokens) | ratio | m | candidates | wall s |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)
        print(f"| {r['model']} {r['scale']:.0f}× | {r['lever']} | {r['fitness']} | {r['held_out_ppl']:.4f} | "
              f"{r['best_rule']} {r['best_rule_ppl']:.4f} | {r['ratio']:.3f} | {r['held_out_key_ppl']:.3f} | "
              f"{r['best_key_rule']} {r['best_key_rule_ppl']:.3f} | {r['key_ratio']:.3f} | {r['m']:.2f} | {r['candidates']} | {r['seconds']:.0f} |")
PY
