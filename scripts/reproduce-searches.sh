#!/usr/bin/env bash
# Runs the four searches whose figures the README reports, one after another, into runs/.
# Each is resumable: rerun this script after an interruption and it continues.
#   stories260K 512→4096 (8×), then 512→8192 (16×) seeded from the 8× best;
#   tinystories-3M 256→2048 (8×), then 256→4096 (16×) seeded from the 8× best.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs
swift build -c release --product longrope >&2
bin=.build/release/longrope
t() { /usr/bin/time -f "%e s wall, %M KB peak" "$@"; }
t $bin search --config configs/stories260K-4096.toml
t $bin search --config configs/stories260K-8192.toml --seed-from 1
t $bin search --config configs/tinystories3M-2048.toml
t $bin search --config configs/tinystories3M-4096.toml --seed-from 1
