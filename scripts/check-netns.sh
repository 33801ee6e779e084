#!/usr/bin/env bash
# Multi-host faults with network namespaces (root): the coordinator in one namespace, three
# workers in three others, each with its own address on a bridge, all talking HTTPS with a
# private CA (scripts/make-ca.sh). While a search runs:
#   - worker 1's link is cut mid-unit (ip link set … down): its lease is handed to another
#     worker; the link comes back: its late answer is dropped and it attaches again;
#   - worker 2's link is degraded for the whole run (tc netem delay + loss when the kernel has
#     it, else a tbf rate limit: queueing delay and tail drops).
# The search must end with the same best factors as an undisturbed one-process search.
# Exit 0 = passed (or skipped, said loudly, without root / ip / the shared model).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${SHARED:-$ROOT/../shared}
LONGROPE=${LONGROPE:-$ROOT/.build/release/longrope}
MODEL=$SHARED/models/tinystories-3M-ctx256.gguf
TEXT=$SHARED/text/tinystories-valid.txt
skip() { echo "check-netns: SKIPPED: $*"; exit 0; }
fail() { echo "check-netns: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root for ip netns"
command -v ip >/dev/null || skip "no ip command"
[ -f "$MODEL" ] && [ -f "$TEXT" ] || skip "$MODEL or $TEXT is absent"
[ -x "$LONGROPE" ] || swift build -c release --product longrope
ip netns add lr-probe 2>/dev/null && ip netns del lr-probe || skip "cannot create network namespaces here"

STATE=$(mktemp -d /tmp/check-netns.XXXXXX)
(umask 077; echo "netns-check-token" > "$STATE/token")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for n in c w1 w2 w3; do ip netns del "lr-$n" 2>/dev/null || true; done
    ip link del lr-br 2>/dev/null || true
}
trap cleanup EXIT
cleanup   # namespaces left by an earlier run that was killed

# A bridge in this namespace (10.77.0.254) and one veth per namespace: c = .1, wK = .1K.
ip link add lr-br type bridge
ip addr add 10.77.0.254/24 dev lr-br
ip link set lr-br up
address() { case $1 in c) echo 10.77.0.1 ;; w*) echo "10.77.0.1${1#w}" ;; esac; }
for n in c w1 w2 w3; do
    ip netns add "lr-$n"
    ip link add "lr-$n-h" type veth peer name eth0 netns "lr-$n"
    ip link set "lr-$n-h" master lr-br up
    ip -n "lr-$n" addr add "$(address "$n")/24" dev eth0
    ip -n "lr-$n" link set eth0 up
    ip -n "lr-$n" link set lo up
done
if tc qdisc add dev lr-w2-h root netem delay 40ms 20ms loss 3% 2>/dev/null; then
    DEGRADED="netem: 40±20 ms delay, 3% loss"
else
    tc qdisc add dev lr-w2-h root tbf rate 256kbit burst 4kb latency 30ms
    DEGRADED="tbf: 256 kbit/s, 4 kB bucket, 30 ms queue (this kernel has no netem)"
fi
echo "check-netns: worker 2's link degraded ($DEGRADED)"

# The search: tinystories-3M 256 → 2048, 8 + 2·2·2 candidates, 2 windows each.
SETTINGS=(--original-context 256 --target-context 2048 --seed 7 --population 8 --iterations 2 --windows 2)
echo "check-netns: undisturbed reference (one process)"
"$LONGROPE" search --model "$MODEL" --text "$TEXT" "${SETTINGS[@]}" --db "$STATE/reference.sqlite" \
    --out "$STATE/reference.json" --threads 2 > "$STATE/reference.log" 2>&1 || { cat "$STATE/reference.log"; fail "reference search"; }

scripts/make-ca.sh "$STATE/tls" 10.77.0.1 10.77.0.11 10.77.0.12 10.77.0.13 >/dev/null
TLS=(--tls-cert "$STATE/tls/server.pem" --tls-key "$STATE/tls/server.key" --ca-file "$STATE/tls/ca.pem")
C=https://10.77.0.1:8080
ip netns exec lr-c "$LONGROPE" coordinator --db "$STATE/coordinator.sqlite" --listen 10.77.0.1:8080 \
    --token-file "$STATE/token" --heartbeat-timeout 3 "${TLS[@]}" > "$STATE/coordinator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 60); do curl -sf --cacert "$STATE/tls/ca.pem" "$C/healthz" >/dev/null && break; sleep 0.5; done
for k in 1 2 3; do
    ip netns exec "lr-w$k" "$LONGROPE" worker --coordinator "$C" --model "$MODEL" --text "$TEXT" --threads 1 \
        --listen "$(address "w$k"):8081" --token-file "$STATE/token" --name "w$k" "${TLS[@]}" > "$STATE/w$k.log" 2>&1 &
    PIDS+=($!)
done
api() { curl -sS --cacert "$STATE/tls/ca.pem" -H "Authorization: Bearer $(cat "$STATE/token")" -H 'Content-Type: application/json' "$@"; }
workers() { api "$C/v1/workers"; }
for _ in $(seq 120); do
    [ "$(workers | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 3 ] && break; sleep 0.5
done
MODEL_SHA=$(sha256sum "$MODEL" | cut -d' ' -f1); TEXT_SHA=$(sha256sum "$TEXT" | cut -d' ' -f1)
ID=$(api -d "{\"model_sha256\":\"$MODEL_SHA\",\"text_sha256\":\"$TEXT_SHA\",\"original_context\":256,\"target_context\":2048,\"seed\":7,\"population\":8,\"iterations\":2,\"windows\":2}" \
    "$C/v1/searches" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "check-netns: search $ID created on the coordinator"

# Cut worker 1 while it holds a unit.
w1_busy() { workers | python3 -c 'import json,sys; print(any(w["name"]=="w1" and w["busy"] for w in json.load(sys.stdin)))'; }
for _ in $(seq 600); do [ "$(w1_busy)" = True ] && break; sleep 0.1; done
[ "$(w1_busy)" = True ] || fail "worker 1 never got a unit"
ip link set lr-w1-h down
CUT=$(date +%s.%N)
echo "check-netns: worker 1's link cut mid-unit"
w1_healthy() { workers | python3 -c 'import json,sys; print(any(w["name"]=="w1" and w["healthy"] for w in json.load(sys.stdin)))'; }
for _ in $(seq 100); do [ "$(w1_healthy)" = False ] && break; sleep 0.2; done
[ "$(w1_healthy)" = False ] || fail "the coordinator still thinks worker 1 is healthy"
echo "check-netns: worker 1 marked unhealthy after $(python3 -c "import time; print(round(time.time() - $CUT, 1))") s"
sleep 6
ip link set lr-w1-h up
echo "check-netns: worker 1's link restored"

STATUS=running
for _ in $(seq 900); do
    STATUS=$(api "$C/v1/searches/$ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    case "$STATUS" in done|failed|cancelled) break ;; esac
    sleep 1
done
[ "$STATUS" = done ] || { tail -20 "$STATE/coordinator.log"; fail "the search ended $STATUS"; }
for _ in $(seq 30); do [ "$(w1_healthy)" = True ] && break; sleep 1; done
[ "$(w1_healthy)" = True ] || fail "worker 1 did not attach again after its link came back"

api "$C/v1/searches/$ID/best" > "$STATE/disturbed.json"
api "$C/metrics" > "$STATE/metrics.txt"
python3 - "$STATE/reference.json" "$STATE/disturbed.json" "$STATE/metrics.txt" <<'PY' || fail "the disturbed search differs from the reference"
import json, sys
ref, got = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
metrics = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[3]) if l.startswith("longrope_") and len(l.split()) == 2}
print("check-netns: reference ppl", ref["ppl"], "λ", ref["lambda"][:4], "…")
print("check-netns: disturbed ppl", got["ppl"], "λ", got["lambda"][:4], "…")
for key in ("longrope_units_requeued_total", "longrope_late_results_dropped_total", "longrope_units_duplicated_total",
            "longrope_units_failed_total", "longrope_leases_expired_total"):
    print(f"check-netns: {key} = {metrics.get(key, 0):g}")
assert got["lambda"] == ref["lambda"] and got["ppl"] == ref["ppl"], "different best"
assert got.get("attention_factor") == ref.get("attention_factor"), "different m"
assert metrics.get("longrope_units_failed_total", 0) == 0, "a unit failed for good"
PY
echo "check-netns: passed"
rm -rf "$STATE"
