#!/usr/bin/env bash
# The retrieval rows of the "On a real model" tables from kept needle passes: for each
# PASSES_DIR that `Benchmarks/needles.sh` filled, the scaling, needles retrieved, mean answer
# NLL, and — for passes run by a binary that lists each needle (`passkey --json`'s "each") —
# how retrieval falls with the needle's distance back from its question, in spans of ORIG
# tokens (the length the model was trained at). Reads files only; runs nothing. The counting is
# Benchmarks/needle_passes.py's, as needles.sh's own summary line.
#
#   Benchmarks/needles-table.sh DIR...        (e.g. Benchmarks/results/needles-32k-*)
#
# Environment: ORIG (8192).
set -euo pipefail
cd "$(dirname "$0")/.."
(( $# >= 1 )) || { echo "usage: Benchmarks/needles-table.sh PASSES_DIR..." >&2; exit 1; }
python3 Benchmarks/needle_passes.py table "${ORIG:-8192}" "$@"
