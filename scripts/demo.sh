#!/usr/bin/env bash
# The main job end to end on one machine. Until the search lands: the baselines' factors.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product longrope
for method in pi ntk yarn; do
    echo "== $method, head_dim 8, 512 -> 4096"
    .build/release/longrope factors --method $method --head-dim 8 --original-context 512 --target-context 4096
done
