#!/usr/bin/env bash
# Takes docs/dashboard.png: the dashboard of a real search, served by a coordinator opened on
# the database scripts/reproduce-searches.sh fills (runs/stories260K.sqlite, search 1 by default).
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-runs/stories260K.sqlite}; search=${2:-1}; port=18089
swift build -c release --product longrope >&2
cp "$db" /tmp/longrope-screenshot.sqlite   # the coordinator owns its database: use a copy
.build/release/longrope coordinator --db /tmp/longrope-screenshot.sqlite --listen 127.0.0.1:$port >/dev/null 2>&1 &
pid=$!
trap 'kill $pid' EXIT
until curl -sf http://127.0.0.1:$port/healthz >/dev/null; do sleep 0.2; done
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1100 \
    --screenshot=docs/dashboard.png "http://127.0.0.1:$port/searches/$search" 2>/dev/null
echo "wrote docs/dashboard.png"
