#!/usr/bin/env bash
# Submits deploy/slurm/longrope-search.sbatch to a real one-node Slurm cluster started here
# (../shared/docs/slurm-local.md) with a small search on stories260K, waits for it, and checks
# the exported rope_scaling and that no longrope process is left. Needs root (CI is root).
# Installs slurm-wlm if missing; stops the daemons it started. Exit 0 = passed (or skipped,
# said loudly, when Slurm cannot be installed or the shared model is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${SHARED:-$ROOT/../shared}
LONGROPE=${LONGROPE:-$ROOT/.build/release/longrope}
skip() { echo "check-slurm: SKIPPED: $*"; exit 0; }
fail() { echo "check-slurm: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root to run slurmctld/slurmd"
[ -f "$SHARED/models/stories260K.gguf" ] || skip "$SHARED/models/stories260K.gguf is absent"
[ -x "$LONGROPE" ] || swift build -c release --product longrope
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "check-slurm: installing slurm-wlm (about a minute)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm >/tmp/check-slurm-apt.log 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm >/tmp/check-slurm-apt.log 2>&1; } \
        || skip "apt-get install slurm-wlm failed (see /tmp/check-slurm-apt.log)"
fi

# A one-node cluster, as in slurm-local.md; only the daemons started here are stopped.
STARTED=()
H=$(hostname -s)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /run/munge
if ! pgrep -x slurmctld >/dev/null; then
    cat > /etc/slurm/slurm.conf <<CONF
ClusterName=local
SlurmctldHost=$H
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmUser=root
ReturnToService=2
NodeName=$H CPUs=$(nproc) RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF
fi
if ! pgrep -x munged >/dev/null; then
    chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
    runuser -u munge -- munged
    STARTED+=(munged)
fi
pgrep -x slurmctld >/dev/null || { slurmctld; STARTED+=(slurmctld); }
pgrep -x slurmd >/dev/null || { slurmd; STARTED+=(slurmd); }
stop() {
    for daemon in "${STARTED[@]}"; do pkill -x "$daemon" 2>/dev/null || true; done
}
trap stop EXIT
for _ in $(seq 60); do sinfo -h -o %t 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o %t | grep -q idle || fail "the Slurm node did not become idle: $(sinfo 2>&1)"

# A small search: stories260K 256 → 512 tokens, 8 + 2·2·2 candidates, one window each.
STATE=$(mktemp -d /tmp/check-slurm.XXXXXX)
cat > "$STATE/search.toml" <<TOML
model = "$SHARED/models/stories260K.gguf"
text = "$SHARED/text/tinystories-valid.txt"
original_context = 256
target_context = 512
seed = 3
windows = 1
population = 8
iterations = 2
TOML
PORT=$((20000 + RANDOM % 20000)); WORKER_PORT=$((PORT + 1))
# HTTPS between the processes, with a private CA naming this node (as on a real cluster).
scripts/make-ca.sh "$STATE/tls" "$(hostname)" "$(hostname -s)" >/dev/null
echo "check-slurm: submitting (state in $STATE)"
set +e
timeout 900 sbatch --wait --nodes=1 --output="$STATE/job.out" \
    --export=ALL,LONGROPE="$LONGROPE",STATE="$STATE",TLS_DIR="$STATE/tls",PORT=$PORT,WORKER_PORT=$WORKER_PORT,POLL_SECONDS=2 \
    deploy/slurm/longrope-search.sbatch "$STATE/search.toml"
STATUS=$?
set -e
cat "$STATE/job.out"
[ "$STATUS" = 0 ] || fail "the job exited $STATUS"

python3 - "$STATE/rope_scaling.json" <<'PY' || fail "bad rope_scaling"
import json, sys
doc = json.load(open(sys.argv[1]))
scaling = doc.get("rope_scaling", doc)
assert scaling["rope_type"] == "longrope", scaling
long = scaling["long_factor"]
assert len(long) == 4, f"stories260K has 4 rotary pairs, got {len(long)}"
assert all(1 <= x <= 3 for x in long), long          # 1 ≤ λ ≤ 1 + s, s = 2
assert all(a <= b for a, b in zip(long, long[1:])), long
assert scaling["original_max_position_embeddings"] == 256, scaling
print("check-slurm: rope_scaling", json.dumps(scaling))
PY

for _ in $(seq 30); do pgrep -f "$STATE" >/dev/null || break; sleep 1; done
if pgrep -af "$STATE"; then fail "processes of the job are still running"; fi
[ -z "$(squeue -h)" ] || fail "jobs still queued: $(squeue)"
echo "check-slurm: passed"
rm -rf "$STATE"
