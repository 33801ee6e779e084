#!/usr/bin/env bash
# Issue 21's figures: utilisation of the reproducible schedules (pipelined steps, islands) and
# their quality on the synthetic landscape, as in docs/benchmarks.md ("Reproducible at many
# workers"). Prints JSON lines (one per run) to stdout; tens of minutes on 2 cores.
#   Benchmarks/cluster-deterministic.sh utilisation > cluster-deterministic.jsonl
#   Benchmarks/cluster-deterministic.sh quality > cluster-deterministic-quality.jsonl
#   Benchmarks/cluster-deterministic.sh real > cluster-real-case.jsonl        (tinystories-3M 16×)
#   OLD=… NEW=… Benchmarks/cluster-deterministic.sh coordinator               (CPU per unit, A B A B)
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
real)
    # One real case (tinystories-3M 256→4096, 16×, the README's budget P = 32, T = 10, K = 3;
    # the default levers): each schedule's best scored on held-out text (scripts/search-quality.sh's
    # protocol). Equal candidates (192): one step at a time, pipeline L = 2, islands I = 4 L = 2
    # cut at 192; then islands I = 4 L = 2 in full (672), about the wall time of one step at a
    # time at 64 workers (utilisation 32% against 93.5%). ~30 min on 2 cores.
    shared=${LONGROPE_SHARED:-../shared}
    real() {
        .build/release/longrope-bench quality --model "$shared/models/tinystories-3M-ctx256.gguf" \
            --text "$shared/text/tinystories-valid.txt" --fitness-bytes 700000:750000 --score-from 750000 \
            --original-context 256 --target-context 4096 --windows 3 --population 32 --iterations 10 \
            --levers default --json "$@"
    }
    real
    real --pipeline-depth 2
    real --islands 4 --migration-interval 5 --pipeline-depth 2 --budget 192
    real --islands 4 --migration-interval 5 --pipeline-depth 2
    ;;
coordinator)
    # The coordinator's own CPU per unit at 1,024 workers (the simulated workers measured alone
    # for 20 s and taken off); OLD and NEW binaries alternating, A B A B.
    for bin in "${OLD:?OLD=binary}" "${NEW:-.build/release/longrope-bench}" "$OLD" "${NEW:-.build/release/longrope-bench}"; do
        "$bin" cluster --json --workers 1024 --mode islands --islands 32 --migration-interval 5 --pipeline-depth 4 \
            --iterations 20 --unit-seconds 2 --simulation-seconds 20 | sed "s|^{|{\"binary\":\"$bin\",|"
    done
    ;;
*) echo "usage: $0 utilisation|quality|real|coordinator" >&2; exit 2 ;;
esac
