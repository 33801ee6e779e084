#!/usr/bin/env bash
# The test command: installs what is missing, then runs the whole suite optimised
# (numeric tests are many times slower in a debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product longrope
scripts/check-deploy.sh
swift test -c release "$@"
# Real multi-host faults (network namespaces) and a real Slurm: root-only checks that skip,
# saying why, where they cannot run.
scripts/check-netns.sh
scripts/check-slurm.sh
