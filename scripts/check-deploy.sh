#!/usr/bin/env bash
# Checks deploy/: every YAML manifest parses (and names its kind), the Slurm script is valid
# bash, and `systemd-analyze verify` accepts the units (pointed at the built binary).
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-$PWD/.build/release/longrope}
status=0

python3 - deploy/kubernetes/*.yaml <<'PY' || status=1
import sys, yaml
for path in sys.argv[1:]:
    docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
    kinds = [d.get("kind") for d in docs]
    assert docs and all(kinds), f"{path}: every document needs a kind"
    print(f"check-deploy: {path}: {len(docs)} manifests ({', '.join(kinds)})")
PY

bash -n deploy/slurm/longrope-search.sbatch && echo "check-deploy: deploy/slurm/longrope-search.sbatch: bash syntax ok" || status=1
grep -q '^FROM .* AS build' deploy/Dockerfile && grep -q '^COPY --from=build' deploy/Dockerfile \
    && echo "check-deploy: deploy/Dockerfile: two stages" || { echo "check-deploy: Dockerfile is not multi-stage"; status=1; }

if command -v systemd-analyze >/dev/null; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    for unit in deploy/systemd/*.service; do
        name=$(basename "$unit")
        # The template is verified as an instance; the binary path is the one just built.
        [[ $name == *@.service ]] && name=${name/@/@1}
        sed "s#/usr/local/bin/longrope#$binary#g; /^User=/d; /^Group=/d; s#^EnvironmentFile=.*#Environment=COORDINATOR=http://127.0.0.1:8080 MODEL=/m.gguf TEXT=/t.txt THREADS=2#" \
            "$unit" > "$tmp/$name"
    done
    if (cd "$tmp" && SYSTEMD_LOG_LEVEL=err systemd-analyze verify --man=no ./*.service); then
        echo "check-deploy: systemd units verified"
    else
        echo "check-deploy: systemd-analyze verify failed"; status=1
    fi
else
    echo "check-deploy: systemd-analyze not available, units not verified"
fi
exit $status
