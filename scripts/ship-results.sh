#!/usr/bin/env bash
# Ships a finished search as results/MODEL/LENGTH/: what a user extending that model needs and
# nothing else — the HF rope_scaling object, the factors as `longrope eval --scaling` reads
# them, the CSV of the paper's code, the config that reproduces the search, and a summary
# (candidates, units, wall time, workers, rules against the search's fitness).
#
#   scripts/ship-results.sh CONFIG.toml DB OUT_DIR [SEARCH_ID]
#
# DB is the search's SQLite file (`longrope search --db`, or a coordinator's --db once it has
# stopped: export opens it as its owner). LONGROPE: the binary (default .build/release/longrope).
set -euo pipefail
CONFIG=${1:?usage: ship-results.sh CONFIG.toml DB OUT_DIR [SEARCH_ID]}
DB=${2:?usage: ship-results.sh CONFIG.toml DB OUT_DIR [SEARCH_ID]}
OUT=${3:?usage: ship-results.sh CONFIG.toml DB OUT_DIR [SEARCH_ID]}
SEARCH=${4:-}
LONGROPE=${LONGROPE:-.build/release/longrope}
mkdir -p "$OUT"
pick=(); [ -z "$SEARCH" ] || pick=(--search "$SEARCH")
"$LONGROPE" export --db "$DB" "${pick[@]}" --format hf --out "$OUT/rope_scaling.json"
"$LONGROPE" export --db "$DB" "${pick[@]}" --format json --out "$OUT/factors.json"
"$LONGROPE" export --db "$DB" "${pick[@]}" --format csv --out "$OUT/factors.csv"
cp "$CONFIG" "$OUT/search-config.toml"

python3 - "$DB" "$OUT/summary.md" "$CONFIG" "${SEARCH:-}" <<'PY'
import json, math, sqlite3, sys, datetime
db, out, config, wanted = sys.argv[1:5]
con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
con.row_factory = sqlite3.Row
search = con.execute("SELECT * FROM search WHERE id = ?" if wanted else "SELECT * FROM search ORDER BY id DESC LIMIT 1",
                     (int(wanted),) if wanted else ()).fetchone()
sid = search["id"]
# Units a seed took from its rule (worker "reused") cost nothing and ran on no worker.
units = con.execute("""SELECT COUNT(*) n, SUM(e.seconds) s, COUNT(DISTINCT e.worker) w, MIN(e.created_at) first, MAX(e.created_at) last
                       FROM evaluation e JOIN candidate c ON c.id = e.candidate_id
                       WHERE c.search_id = ? AND e.status = 'done' AND e.worker != 'reused'""",
                    (sid,)).fetchone()
# The rules' units, in databases that keep them (schema v6, 2026-12-06); earlier ones were not timed.
has_rule_units = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rule_unit'").fetchone()
rules = con.execute("SELECT COUNT(*) n, SUM(seconds) s FROM rule_unit WHERE search_id = ? AND worker != 'reused'",
                    (sid,)).fetchone() if has_rule_units else None
candidates = con.execute("SELECT COUNT(*) FROM candidate WHERE search_id = ?", (sid,)).fetchone()[0]
cols = [r[1] for r in con.execute("PRAGMA table_info(baseline)")]
baselines = con.execute("SELECT * FROM baseline WHERE search_id = ?", (sid,)).fetchall()
best = json.load(open(out.rsplit("/", 1)[0] + "/factors.json"))
when = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
hours = (search["updated_at"] - search["created_at"]) / 3600
lines = [f"# {search['name']}: the search behind these factors", "",
         f"- config: `search-config.toml` (`longrope search --config search-config.toml` reproduces it; paths are relative to the file's place in configs/)",
         f"- status: {search['status']}, from {when(search['created_at'])} to {when(search['updated_at'])} ({hours:.1f} h wall)",
         f"- candidates: {candidates}; units scored: {units['n']} (candidates' windows; the rules' units come on top), "
         f"{(units['s'] or 0) / 3600:.1f} h of worker time, {units['w']} worker(s)"
         + (f"; the rules' units: {rules['n']}, {(rules['s'] or 0) / 3600:.1f} h" if rules and rules['n'] else ""),
         f"- best fitness ({best.get('fitness', 'ppl')}): {best.get('ppl', 'n/a')}, "
         f"m = {best.get('attention_factor', 'n/a')}, n̂ = {best.get('n_hat', 'n/a')}", "",
         "| rule | perplexity | search fitness |", "|---|---:|---:|"]
for b in sorted(baselines, key=lambda r: (r["perplexity"] is None, r["perplexity"] or 0)):
    fitness = b["fitness"] if "fitness" in cols else None
    fmt = lambda v, none: none if v is None else f"{v:.4f}"
    # A rule without a fitness value was infeasible, or the search's fitness is ppl itself.
    lines.append(f"| {b['method']} | {fmt(b['perplexity'], 'infeasible')} | {fmt(fitness, '—')} |")
open(out, "w").write("\n".join(lines) + "\n")
PY
echo "shipped to $OUT: rope_scaling.json factors.json factors.csv search-config.toml summary.md"
