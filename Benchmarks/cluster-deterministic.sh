#!/usr/bin/env bash
# Issue 21's figures: utilisation of the reproducible schedules (pipelined steps, islands) and
# their quality on the synthetic landscape, as in docs/benchmarks.md ("Reproducible at many
# workers"). Prints JSON lines (one per run) to stdout; tens of minutes on 2 cores.
#   Benchmarks/cluster-deterministic.sh utilisation > cluster-deterministic.jsonl
#   Benchmarks/cluster-deterministic.sh quality > cluster-deterministic-quality.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product longrope-bench >&2
bench() { .build/release/longrope-bench cluster --json "$@"; }
case "${1:-}" in
utilisation)
    # The same best digest at every worker count, for a fixed setting; units scaled with N.
    bench --workers 1,16,64,256 --mode pipeline --pipeline-depth 8 --run-seconds 30
    bench --workers 1,16,64,256 --mode islands --islands 4 --migration-interval 5 --pipeline-depth 2 --run-seconds 60
    bench --workers 256 --mode islands --islands 8 --migration-interval 5 --pipeline-depth 2 --run-seconds 40
    bench --workers 1024 --mode islands --islands 16 --migration-interval 5 --pipeline-depth 2 --unit-seconds 3
    # 75% at 1,024 (2026-12-05): 32 islands, 4 steps in flight, a paper-length search; the same
    # digest with short units at 64 and 256 workers.
    bench --workers 1024 --mode islands --islands 32 --migration-interval 5 --pipeline-depth 4 --iterations 40 --unit-seconds 2
    bench --workers 64,256 --mode islands --islands 32 --migration-interval 5 --pipeline-depth 4 --iterations 40 --unit-seconds 0.01
    # Islands that move on alone (2026-12-05, 09:00): the goals at 64, 256 and 1,024.
    for args in "4 2" "4 4" "2 4" "8 2"; do
        set -- $args
        bench --workers 64 --mode islands --islands "$1" --migration-interval 5 --pipeline-depth "$2" --iterations 40 --unit-seconds 0.35
    done
    bench --workers 1024 --mode islands --islands 32 --migration-interval 5 --pipeline-depth 4 --iterations 40 --unit-seconds 2
    bench --workers 1024 --mode islands --islands 16 --migration-interval 5 --pipeline-depth 2 --iterations 40 --unit-seconds 2
    bench --workers 256 --mode islands --islands 8 --migration-interval 5 --pipeline-depth 2 --iterations 40 --unit-seconds 1
    bench --workers 256 --mode islands --islands 16 --migration-interval 5 --pipeline-depth 2 --iterations 40 --unit-seconds 1
    ;;
quality)
    # The result does not depend on the workers: fast units, 64 of them, seeds 2, 3, 4.
    for seed in 2 3 4; do
        q=(--workers 64 --unit-seconds 0.005 --seed "$seed")
        bench "${q[@]}" --mode sync
        for l in 2 4 8; do bench "${q[@]}" --mode pipeline --pipeline-depth "$l"; done
        bench "${q[@]}" --mode pipeline --pipeline-depth 8 --iterations 112
        for m in 5 0; do bench "${q[@]}" --mode islands --islands 4 --migration-interval "$m" --iterations 10; done
        for i in 4 8; do bench "${q[@]}" --mode islands --islands "$i" --migration-interval 5 --pipeline-depth 2; done
        bench "${q[@]}" --mode islands --islands 32 --migration-interval 5 --pipeline-depth 4   # 2026-12-05
    done
    ;;
*) echo "usage: $0 utilisation|quality" >&2; exit 2 ;;
esac
