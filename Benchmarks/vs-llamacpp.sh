#!/usr/bin/env bash
# Long windows against llama.cpp (issue 20; a benchmark, not a test): SmolLM2-135M Q4_1 on
# frankenstein.txt, llama.cpp's protocol (second half of each window scored), 2 threads. For
# each context, one window under PI (s = N / 8192 above the model's 8,192), in rounds A B A B:
# ours with FP32 attention, ours with BF16 attention, llama-perplexity without and with -fa
# (its flash attention). Prints wall seconds, peak RSS (/usr/bin/time) and perplexity per run,
# then the medians and the ratios to the faster llama.cpp run.
#
#   Benchmarks/vs-llamacpp.sh [CONTEXTS] [ROUNDS]      (default 16384 and 1 round)
#
# Environment: MODEL, TEXT, THREADS, LLAMA (the llama.cpp directory), LONGROPE (our binary),
# RUNS (which of ours-f32,ours-bf16,llama,llama-fa to run; default all), RAW (a file the runs'
# lines are appended to and the table read from: runs of several invocations combine).
set -euo pipefail
cd "$(dirname "$0")/.."
contexts=${1:-16384}
rounds=${2:-1}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
TEXT=${TEXT:-../shared/text/frankenstein.txt}
THREADS=${THREADS:-2}
LLAMA=${LLAMA:-../shared/tools/llama.cpp}
LONGROPE=${LONGROPE:-.build/release/longrope}
[ -s "$MODEL" ] || { echo "no model at $MODEL (scripts/fetch-models.sh fetches it)" >&2; exit 1; }
[ -x "$LLAMA/llama-perplexity" ] || { echo "no llama-perplexity in $LLAMA" >&2; exit 1; }
[ -x "$LONGROPE" ] || { echo "no $LONGROPE (swift build -c release)" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || apt-get install -y -q time >&2
RUNS=${RUNS:-ours-f32,ours-bf16,llama,llama-fa}
if [ -n "${RAW:-}" ]; then raw=$RAW; else raw=$(mktemp); trap 'rm -f "$raw"' EXIT; fi
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p') model $(lscpu | sed -n 's/^Model: *//p'), $(nproc) cores; threads $THREADS" >&2
timed() {   # timed NAME CONTEXT COMMAND...: one timed run (if RUNS names it), its line appended to $raw
    local name=$1 n=$2; shift 2
    case ",$RUNS," in *",$name,"*) ;; *) return 0 ;; esac
    local start end out
    start=$(date +%s.%N)
    out=$( { /usr/bin/time -f "RSS %M" "$@" 2>&1; } | tr '\r' '\n')
    end=$(date +%s.%N)
    local rss ppl
    rss=$(echo "$out" | sed -n 's/^RSS \([0-9]*\)$/\1/p' | tail -1)
    ppl=$(echo "$out" | grep -oE '(^ppl |Final estimate: PPL = )[0-9.]+' | grep -oE '[0-9.]+$' | tail -1)
    echo "$name $n $(echo "$end - $start" | bc) $rss ${ppl:-?}" | tee -a "$raw" >&2
}
for round in $(seq "$rounds"); do
    for n in ${contexts//,/ }; do
        s=$(( n > 8192 ? n / 8192 : 1 ))
        ours=(--model "$MODEL" --text "$TEXT" --context "$n" --protocol llamacpp --windows 1 --threads "$THREADS" --scaling "pi:$s" --original-context 8192)
        theirs=(-m "$MODEL" -f "$TEXT" -c "$n" -b "$n" -t "$THREADS" --chunks 1)
        [ "$s" -gt 1 ] && theirs+=(--rope-scaling linear --rope-scale "$s")
        timed ours-f32 "$n" "$LONGROPE" eval "${ours[@]}" --attention-precision f32
        timed ours-bf16 "$n" "$LONGROPE" eval "${ours[@]}" --attention-precision bf16
        timed llama "$n" "$LLAMA/llama-perplexity" "${theirs[@]}"
        timed llama-fa "$n" "$LLAMA/llama-perplexity" "${theirs[@]}" -fa
    done
done
python3 - "$raw" <<'PY'
import sys, statistics as st
runs = {}
for line in open(sys.argv[1]):
    name, n, sec, rss, ppl = line.split()
    runs.setdefault((int(n), name), []).append((float(sec), int(rss or 0), ppl))
print("| context | ours f32 | ours bf16 | llama.cpp | llama.cpp -fa | speed f32 / bf16 (vs the faster llama.cpp) | peak RSS ours bf16 / llama.cpp (MB) | ppl f32 / bf16 / llama.cpp |")
print("|---:|---:|---:|---:|---:|---|---|---|")
for n in sorted({k[0] for k in runs}):
    med = {name: st.median(r[0] for r in runs[(n, name)]) for (m, name) in runs if m == n}
    if not all(k in med for k in ("ours-f32", "ours-bf16", "llama", "llama-fa")):
        print(f"| {n} | (not every run yet: {', '.join(sorted(med))}) |"); continue
    rss = {name: max(r[1] for r in runs[(n, name)]) / 1024 for (m, name) in runs if m == n}
    ppl = {name: runs[(n, name)][-1][2] for (m, name) in runs if m == n}
    ref = min(med.get("llama", 1e9), med.get("llama-fa", 1e9))
    lref = min(("llama", "llama-fa"), key=lambda k: med.get(k, 1e9))
    print(f"| {n} | {med['ours-f32']:.1f} s | {med['ours-bf16']:.1f} s | {med['llama']:.1f} s | {med['llama-fa']:.1f} s | "
          f"**{ref / med['ours-f32']:.2f}× / {ref / med['ours-bf16']:.2f}×** | {rss['ours-bf16']:.0f} / {rss[lref]:.0f} ({rss['ours-bf16'] / rss[lref]:.2f}×) | "
          f"{ppl['ours-f32']} / {ppl['ours-bf16']} / {ppl['llama']} |")
PY
