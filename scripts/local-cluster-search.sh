#!/usr/bin/env bash
# A search through the distributed path on one machine: a coordinator on loopback, WORKERS
# worker processes of THREADS threads each, the search's settings from a config file (the one
# `longrope search --config` reads). Run it again with the same STATE to resume after a stop:
# the coordinator resumes the search stored in STATE/longrope.sqlite; nothing is redone.
#
#   scripts/local-cluster-search.sh CONFIG.toml STATE_DIR [WORKERS] [THREADS]
#
# Environment: FROM_DB (a database to resume from when STATE has none: copied into STATE, its
# one search resumed — e.g. a search committed under results/ by an earlier session),
# LONGROPE (the binary, default .build/release/longrope), PORT (default 8790),
# LEASE_SECONDS (how long one unit may take before it is handed to another worker; default
# 1800: a 32k SmolLM2 unit takes 10–15 min on 2 threads of this machine kind),
# VERIFY_FIRST / VERIFY_SHARE (the coordinator's redundancy; default 0 and 0: every worker here
# is this machine's own, so re-scoring their answers would only cost time).
# Writes STATE/search_id, STATE/coordinator.log, STATE/worker-N.log, and on success the best
# factors as STATE/rope_scaling.json (HF), STATE/factors.json and STATE/factors.csv.
set -euo pipefail
CONFIG=${1:?usage: local-cluster-search.sh CONFIG.toml STATE_DIR [WORKERS] [THREADS]}
STATE=${2:?usage: local-cluster-search.sh CONFIG.toml STATE_DIR [WORKERS] [THREADS]}
WORKERS=${3:-1}
THREADS=${4:-$(nproc)}
LONGROPE=${LONGROPE:-.build/release/longrope}
PORT=${PORT:-8790}
URL="http://127.0.0.1:$PORT"
mkdir -p "$STATE"
if [ -n "${FROM_DB:-}" ] && [ ! -e "$STATE/longrope.sqlite" ]; then
    [ -s "$FROM_DB" ] || { echo "FROM_DB=$FROM_DB: no such database" >&2; exit 1; }
    IDS=$(python3 -c 'import sqlite3,sys; print(" ".join(str(r[0]) for r in sqlite3.connect(sys.argv[1]).execute("select id from search")))' "$FROM_DB") \
        || { echo "FROM_DB=$FROM_DB is not a longrope database" >&2; exit 1; }
    [ "$(echo "$IDS" | wc -w)" -eq 1 ] || { echo "FROM_DB=$FROM_DB holds searches [$IDS]: one expected" >&2; exit 1; }
    cp "$FROM_DB" "$STATE/longrope.sqlite"
    echo "$IDS" > "$STATE/search_id"
    echo "resuming from $FROM_DB (search $IDS)"
fi
[ -s "$STATE/token" ] || (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STATE/token")
TOKEN=$(cat "$STATE/token")

# The config → the API request (decoded as `longrope search --config` decodes it) and the model
# and text paths for the workers, as the Slurm script does.
{ read -r MODEL; read -r TEXT; } < <("$LONGROPE" request "$CONFIG" --out "$STATE/search.json") \
    || { echo "cannot turn $CONFIG into a search request (above)" >&2; exit 1; }

PIDS=()
cleanup() { [ ${#PIDS[@]} -eq 0 ] || kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

"$LONGROPE" coordinator --db "$STATE/longrope.sqlite" --listen "127.0.0.1:$PORT" --token-file "$STATE/token" \
    --lease-seconds "${LEASE_SECONDS:-1800}" --verify-first "${VERIFY_FIRST:-0}" --verify-share "${VERIFY_SHARE:-0}" >> "$STATE/coordinator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 60); do curl -sf "$URL/healthz" >/dev/null && break; sleep 1; done
curl -sf "$URL/healthz" >/dev/null || { echo "the coordinator did not come up at $URL (see $STATE/coordinator.log)" >&2; exit 1; }
for n in $(seq "$WORKERS"); do
    "$LONGROPE" worker --coordinator "$URL" --model "$MODEL" --text "$TEXT" --threads "$THREADS" \
        --token-file "$STATE/token" --name "local-$n" >> "$STATE/worker-$n.log" 2>&1 &
    PIDS+=($!)
done

api() { curl -sS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
for _ in $(seq 300); do
    [ "$(api "$URL/v1/workers" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" -ge "$WORKERS" ] && break
    sleep 1
done
if [ -s "$STATE/search_id" ]; then
    ID=$(cat "$STATE/search_id")
    echo "resuming search $ID: $URL/v1/searches/$ID"
    # The coordinator goes on with a search that was running; one that was paused, or failed
    # (a unit whose workers kept vanishing: fixed by this restart), is resumed here.
    case "$(api "$URL/v1/searches/$ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" in
        paused|failed) api -X POST "$URL/v1/searches/$ID/resume" > /dev/null && echo "search $ID resumed" ;;
    esac
else
    CREATED=$(api -d @"$STATE/search.json" "$URL/v1/searches")
    ID=$(echo "$CREATED" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') \
        || { echo "the coordinator refused the search: $CREATED" >&2; exit 1; }
    echo "$ID" > "$STATE/search_id"
    echo "search $ID started: $URL/v1/searches/$ID"
fi

while true; do
    STATUS=$(api "$URL/v1/searches/$ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    case "$STATUS" in done|failed|cancelled) break ;; esac
    echo "$(date -u +%H:%M:%S) $("$LONGROPE" status --coordinator "$URL" --token-file "$STATE/token" | awk -v id="$ID" '$1 == id { print; exit }')"
    sleep "${POLL_SECONDS:-60}"
done
if [ "$STATUS" != done ]; then
    "$LONGROPE" status --coordinator "$URL" --token-file "$STATE/token" >&2 || true
    echo "search $ID ended $STATUS" >&2
    exit 1
fi
api "$URL/v1/searches/$ID" > "$STATE/search-view.json"
api "$URL/v1/searches/$ID/best?format=hf" > "$STATE/rope_scaling.json"
api "$URL/v1/searches/$ID/best?format=json" > "$STATE/factors.json"
api "$URL/v1/searches/$ID/best?format=csv" > "$STATE/factors.csv"
echo "search $ID done: $STATE/rope_scaling.json, factors.json, factors.csv"
