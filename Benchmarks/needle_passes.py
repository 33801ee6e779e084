"""The needle passes of Benchmarks/needles.sh, summed up: one place for what a pass list means.

  python3 Benchmarks/needle_passes.py summary ORIG < passes   (one pass's JSON per line → one JSON line)
  python3 Benchmarks/needle_passes.py table ORIG DIR...       (kept PASSES_DIRs → a markdown table)

ORIG is the context the model was trained at: retrieval by distance is counted per span of ORIG
tokens between a needle and its question (passes run by a binary that lists each needle, the
"each" of `longrope passkey --json`; a list without it has no `by_distance`).
"""
import glob
import json
import os
import sys


def by_distance(runs, orig):
    """{span index: (retrieved, needles)} when every needle is listed, else {}."""
    each = [e for r in runs for e in r.get("each", [])]
    if len(each) != sum(r["needles"] for r in runs):
        return {}
    bins = {}
    for e in each:
        got, total = bins.get(e["distance"] // orig, (0, 0))
        bins[e["distance"] // orig] = (got + e["retrieved"], total + 1)
    return bins


def summary(runs, orig):
    n = sum(r["needles"] for r in runs)
    out = {"scaling": runs[0]["scaling"], "context": runs[0]["context"], "passes": len(runs),
           "needles": n, "retrieved": sum(r["retrieved"] for r in runs),
           "answer_nll": sum(r["answer_nll"] * r["needles"] for r in runs) / n,
           "by_pass": [[r["retrieved"], r["needles"]] for r in runs]}
    bins = by_distance(runs, orig)
    if bins:
        out["by_distance"] = {f"{orig * b}-{orig * (b + 1)}": list(bins[b]) for b in sorted(bins)}
    return out


def kept_passes(directory):
    """The passes kept in a PASSES_DIR, in pass order."""
    paths = glob.glob(os.path.join(directory, "pass-*.json"))
    paths.sort(key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0]))
    return [json.load(open(p)) for p in paths]


def table(orig, directories):
    rows, spans = [], set()
    for d in directories:
        runs = kept_passes(d)
        if not runs:
            print(f"{d}: no pass-*.json (not a PASSES_DIR of Benchmarks/needles.sh)", file=sys.stderr)
            continue
        settings = os.path.join(d, "settings")
        scaling = open(settings).read().split()[0] if os.path.exists(settings) else "?"
        bins = by_distance(runs, orig)
        spans.update(bins)
        rows.append((scaling, summary(runs, orig), bins))
    spans = sorted(spans)
    head = ["scaling", "context", "passes", "retrieved", "answer NLL"] + \
        [f"{orig * b // 1024}–{orig * (b + 1) // 1024}k back" for b in spans]
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * 4 + "---|" * len(spans))
    for scaling, s, bins in rows:
        cells = [f"{bins[b][0]}/{bins[b][1]}" if b in bins else ("" if bins else "—") for b in spans]
        print("| " + " | ".join([scaling, str(s["context"]), str(s["passes"]), f"{s['retrieved']}/{s['needles']}",
                                 f"{s['answer_nll']:.3f}"] + cells) + " |")


if __name__ == "__main__":
    mode, orig = sys.argv[1], int(sys.argv[2])
    if mode == "summary":
        print(json.dumps(summary([json.loads(line) for line in sys.stdin if line.strip()], orig)))
    elif mode == "table":
        table(orig, sys.argv[3:])
    else:
        sys.exit(f"unknown mode {mode}: summary or table")
