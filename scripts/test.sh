#!/usr/bin/env bash
# The test command: installs what is missing, then runs the whole suite optimised
# (numeric tests are many times slower in a debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product longrope
scripts/check-deploy.sh
swift test -c release "$@"
