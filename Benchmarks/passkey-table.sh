#!/usr/bin/env bash
# The passkey column of the "On a real model" tables from kept `longrope passkey --json`
# outputs (Benchmarks/results/passkey-*.json): per file, the context, keys passed of trials,
# and each depth's passes and mean answer NLL (a near miss has a low NLL). Reads files only.
#
#   Benchmarks/passkey-table.sh FILE...        (e.g. Benchmarks/results/passkey-16k-*)
set -euo pipefail
cd "$(dirname "$0")/.."
(( $# >= 1 )) || { echo "usage: Benchmarks/passkey-table.sh PASSKEY_JSON..." >&2; exit 1; }
python3 - "$@" <<'PY'
import json, os, sys
print("| file | scaling | context | passed | by depth: passed/trials (answer NLL) |")
print("|---|---|---:|---:|---|")
bad = 0
for path in sys.argv[1:]:
    try:
        d = json.load(open(path))
        depths = d["depths"]
    except (OSError, ValueError, KeyError) as e:
        print(f"{path}: not a `longrope passkey --json` output ({e})", file=sys.stderr)
        bad += 1
        continue
    passed = sum(x["passed"] for x in depths)
    trials = sum(x["trials"] for x in depths)
    cells = " · ".join(f"{x['depth']:g}: {x['passed']}/{x['trials']} ({x['answer_nll']:.2f})" for x in depths)
    print(f"| {os.path.basename(path)} | {d['scaling']} | {d['context']} | {passed}/{trials} | {cells} |")
sys.exit(1 if bad else 0)
PY
