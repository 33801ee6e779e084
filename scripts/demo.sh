#!/usr/bin/env bash
# The main job end to end on one machine: extend Karpathy's stories260K (trained at 512
# tokens) 8× to 4096 with a LongRoPE search, export the factors, and check the exported GGUF.
# About 1–3 minutes on 2 cores (P = 32: nine rules seed the population twice when m is searched). Everything lands in runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${LONGROPE_SHARED:-../shared}
model=$shared/models/stories260K.gguf
text=$shared/text/tinystories-valid.txt
for f in "$model" "$text"; do
    [ -f "$f" ] || { echo "demo: $f is missing (the shared data belongs beside the checkout)" >&2; exit 1; }
done
scripts/setup.sh
swift build -c release --product longrope >&2
bin=.build/release/longrope
out=runs/demo
mkdir -p "$out"

echo "== 1. the baselines at 8× the trained context (2 windows of 4096 tokens)"
for scaling in none pi:8 ntk:8 yarn:8; do
    $bin eval --model "$model" --text "$text" --context 4096 --original-context 512 --windows 2 --scaling $scaling 2>/dev/null
done

echo "== 2. a LongRoPE search (resumable: rerun to continue; results in $out/search.sqlite)"
$bin search --model "$model" --text "$text" --original-context 512 --target-context 4096 \
    --db "$out/search.sqlite" --windows 2 --population 32 --iterations 6 --seed 0 --out "$out/result.json"

echo "== 3. exports"
$bin export --db "$out/search.sqlite" --format hf --out "$out/rope_scaling.json"
$bin export --db "$out/search.sqlite" --format csv --out "$out/factors.csv"
$bin export --db "$out/search.sqlite" --format gguf --out "$out/stories260K-4096.gguf"

echo "== 4. the exported GGUF alone (no --scaling) gives the search's perplexity"
$bin eval --model "$out/stories260K-4096.gguf" --text "$text" --context 4096 --original-context 512 --windows 2 2>/dev/null
python3 -c "import json; r=json.load(open('$out/result.json')); print('search best ppl %.4f; baselines %s' % (r['ppl'], {k: round(v, 4) for k, v in r['baselines'].items()}))"
