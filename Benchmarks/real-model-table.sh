#!/usr/bin/env bash
# The README's "On a real model" table for one target length: every rule and the searched
# factors, scored on text the search never saw — held-out perplexity, retrieval of needles
# hidden in that text, the standard passkey — as one markdown table (and JSON lines beside it).
#
#   Benchmarks/real-model-table.sh FACTORS.json [OUT_DIR]
#
# Environment (defaults: SmolLM2-135M at 16k, Frankenstein held out):
#   MODEL (models/SmolLM2-135M-Instruct.Q4_1.gguf), ORIG (8192), TARGET (16384),
#   TEXT (../shared/text/frankenstein.txt), PPL_WINDOWS (2), NEEDLES (20: needles in all, one
#   per window, Benchmarks/needles.sh), DIGITS (5), DEPTHS (0.1,0.5,0.9), TRIALS (2), THREADS
#   (all cores), ATTENTION (f32 or bf16, for every row: f32), LONGROPE (.build/release/longrope).
# The needles of each row are kept in OUT_DIR/needles-NAME (PASSES_DIR of Benchmarks/needles.sh):
# a rerun after a stop skips the passes already there (a 32k row is hours).
# A 16k pass takes 1–6 min on 2 threads (CPUs of this kind differ): the defaults cost ~28 passes
# per row (20 of them needles: one 5-digit needle per window is what SmolLM2 retrieves at 8k,
# docs/search-levers.md).
set -euo pipefail
cd "$(dirname "$0")/.."
FACTORS=${1:?usage: Benchmarks/real-model-table.sh FACTORS.json [OUT_DIR]}
OUT=${2:-$(dirname "$FACTORS")}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
ORIG=${ORIG:-8192}; TARGET=${TARGET:-16384}
TEXT=${TEXT:-../shared/text/frankenstein.txt}
PPL_WINDOWS=${PPL_WINDOWS:-2}; NEEDLES=${NEEDLES:-20}; DIGITS=${DIGITS:-5}
DEPTHS=${DEPTHS:-0.1,0.5,0.9}; TRIALS=${TRIALS:-2}
THREADS=${THREADS:-$(nproc)}
ATTENTION=${ATTENTION:-f32}
LONGROPE=${LONGROPE:-.build/release/longrope}
S=$(python3 -c "print($TARGET / $ORIG)")
mkdir -p "$OUT"
rows="$OUT/table.jsonl"; : > "$rows"

score() {   # name scaling
    local name=$1 scaling=$2 common=(--model "$MODEL" --original-context "$ORIG" --context "$TARGET" --scaling "$2" --threads "$THREADS"
                                     --attention-precision "$ATTENTION" --json)
    echo "real-model-table: $name ($scaling)" >&2
    local ppl needles passkey
    ppl=$("$LONGROPE" eval "${common[@]}" --text "$TEXT" --windows "$PPL_WINDOWS")
    needles=$(MODEL=$MODEL ORIG=$ORIG TARGET=$TARGET TEXT=$TEXT NEEDLES=$NEEDLES DIGITS=$DIGITS THREADS=$THREADS \
              ATTENTION=$ATTENTION LONGROPE=$LONGROPE PASSES_DIR="$OUT/needles-$name" Benchmarks/needles.sh "$scaling")
    passkey=$("$LONGROPE" passkey "${common[@]}" --depths "$DEPTHS" --trials "$TRIALS")
    python3 - "$name" "$ppl" "$needles" "$passkey" >> "$rows" <<'PY'
import json, sys
name, ppl, needles, passkey = sys.argv[1], *map(json.loads, sys.argv[2:5])
print(json.dumps({"name": name, "ppl": ppl["ppl"], "ppl_uncertainty": ppl.get("ppl_uncertainty"),
                  "retrieved": needles["retrieved"], "needles": needles["needles"], "answer_nll": needles["answer_nll"],
                  "by_distance": needles.get("by_distance", {}),
                  "passkey_passed": sum(d["passed"] for d in passkey["depths"]),
                  "passkey_trials": sum(d["trials"] for d in passkey["depths"])}))
PY
}

# The model at its own length on the same text: what no extension can beat by much.
floor=$("$LONGROPE" eval --model "$MODEL" --original-context "$ORIG" --context "$ORIG" --text "$TEXT" \
        --windows $((PPL_WINDOWS * TARGET / ORIG)) --threads "$THREADS" --attention-precision "$ATTENTION" --json)
# …and how well it retrieves there: the retrieval rows mean something only if it does (≥ 70%).
floor_needles=$(MODEL=$MODEL ORIG=$ORIG TARGET=$ORIG TEXT=$TEXT NEEDLES=$NEEDLES DIGITS=$DIGITS THREADS=$THREADS \
                ATTENTION=$ATTENTION LONGROPE=$LONGROPE PASSES_DIR="$OUT/needles-floor" Benchmarks/needles.sh none)
score none none
score pi "pi:$S"
score ntk "ntk:$S"
score yarn "yarn:$S"
score llama3 "llama3:$S"
score searched "$FACTORS"

python3 - "$rows" "$floor" "$ORIG" "$TARGET" "$floor_needles" > "$OUT/table.md" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
floor, base = json.loads(sys.argv[2]), json.loads(sys.argv[5])
best_rule = min((r for r in rows if r["name"] not in ("none", "searched")), key=lambda r: r["ppl"])
# Retrieved/needles per span of ORIG tokens between a needle and its question ("0-8192": …).
distance = lambda r: " · ".join(f"{k}: {v[0]}/{v[1]}" for k, v in r.get("by_distance", {}).items())
print(f"| {sys.argv[4]} tokens | held-out ppl | ratio to {best_rule['name']} | needles retrieved | answer NLL | by distance back | passkey |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['name']} | {r['ppl']:.4f} ± {r['ppl_uncertainty'] or 0:.4f} | {r['ppl'] / best_rule['ppl']:.3f} | "
          f"{r['retrieved']}/{r['needles']} ({100 * r['retrieved'] / r['needles']:.0f}%) | {r['answer_nll']:.3f} | "
          f"{distance(r)} | {r['passkey_passed']}/{r['passkey_trials']} |")
print(f"| the model at {sys.argv[3]} (ppl: same tokens) | {floor['ppl']:.4f} | {floor['ppl'] / best_rule['ppl']:.3f} | "
      f"{base['retrieved']}/{base['needles']} ({100 * base['retrieved'] / base['needles']:.0f}%) | {base['answer_nll']:.3f} | "
      f"{distance(base)} | |")
PY
cat "$OUT/table.md"
