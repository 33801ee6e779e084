#!/usr/bin/env bash
# Real-text retrieval over more needles than one pass over the text holds: one 5-digit needle
# per window (what SmolLM2 retrieves at 8k, docs/search-levers.md), in R passes over the text,
# pass r shifted by r/R of a window and drawing its keys from seed r — so every needle has its
# own key, depth and surrounding text (the windows of different passes overlap in text).
#
#   Benchmarks/needles.sh SCALING        (prints one JSON line: needles, retrieved, answer_nll, passes)
#
# Environment: MODEL (models/SmolLM2-135M-Instruct.Q4_1.gguf), ORIG (8192), TARGET (16384),
# TEXT (../shared/text/frankenstein.txt), NEEDLES (20, at least), DIGITS (5), THREADS (all
# cores), ATTENTION (f32 or bf16; f32), LONGROPE (.build/release/longrope). Each pass's JSON
# goes to stderr as it ends; with PASSES_DIR it is also kept there (pass-R.json), and a rerun
# with the same settings skips the passes already there (a 32k run is hours: it resumes).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALING=${1:?usage: Benchmarks/needles.sh SCALING}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
ORIG=${ORIG:-8192}; TARGET=${TARGET:-16384}
TEXT=${TEXT:-../shared/text/frankenstein.txt}
NEEDLES=${NEEDLES:-20}; DIGITS=${DIGITS:-5}
THREADS=${THREADS:-$(nproc)}
ATTENTION=${ATTENTION:-f32}
LONGROPE=${LONGROPE:-.build/release/longrope}

tokens=$("$LONGROPE" tokenize --model "$MODEL" --file "$TEXT" --ids --no-bos | tr ',' '\n' | wc -l)
bytes=$(wc -c < "$TEXT")
fit=$(( tokens / (TARGET - 1) ))             # windows one pass holds
(( fit >= 1 )) || { echo "$TEXT ($tokens tokens) is shorter than one window of $TARGET" >&2; exit 1; }
passes=$(( (NEEDLES + fit - 1) / fit ))
if (( passes > 1 )); then                     # shifted passes need a window of slack
    (( fit >= 2 )) || { echo "$TEXT ($tokens tokens) holds one window of $TARGET: not enough to shift" >&2; exit 1; }
    fit=$(( fit - 1 )); passes=$(( (NEEDLES + fit - 1) / fit ))
fi
per=$(( (NEEDLES + passes - 1) / passes ))   # windows per pass
window_bytes=$(( bytes * (TARGET - 1) / tokens ))
PASSES_DIR=${PASSES_DIR:-}
settings="$SCALING $MODEL $ORIG $TARGET $TEXT $NEEDLES $DIGITS $ATTENTION"
if [[ -n $PASSES_DIR ]]; then
    mkdir -p "$PASSES_DIR"
    if [[ -f $PASSES_DIR/settings && $(cat "$PASSES_DIR/settings") != "$settings" ]]; then
        echo "$PASSES_DIR holds passes of other settings ($(cat "$PASSES_DIR/settings")): use another PASSES_DIR" >&2; exit 1
    fi
    echo "$settings" > "$PASSES_DIR/settings"
fi
out=()
for r in $(seq 0 $((passes - 1))); do
    if [[ -n $PASSES_DIR && -s $PASSES_DIR/pass-$r.json ]]; then
        line=$(cat "$PASSES_DIR/pass-$r.json"); echo "$line (kept)" >&2; out+=("$line"); continue
    fi
    line=$("$LONGROPE" passkey --model "$MODEL" --original-context "$ORIG" --context "$TARGET" --scaling "$SCALING" \
        --threads "$THREADS" --attention-precision "$ATTENTION" --text "$TEXT" --text-offset $(( r * window_bytes / passes )) --seed "$r" \
        --needles 1 --digits "$DIGITS" --windows "$per" --json)
    echo "$line" >&2
    [[ -n $PASSES_DIR ]] && echo "$line" > "$PASSES_DIR/pass-$r.json"
    out+=("$line")
done
printf '%s\n' "${out[@]}" | python3 Benchmarks/needle_passes.py summary "$ORIG"
