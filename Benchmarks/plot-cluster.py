#!/usr/bin/env python3
"""Draws worker utilisation against worker count from `longrope-bench cluster --json` output.

    Benchmarks/plot-cluster.py OUT.svg LABEL=FILE.jsonl [LABEL=FILE.jsonl …]

One line per file (e.g. sync=… overlap=… islands=…), useful utilisation (busy time whose
results were used / N × makespan) on a log-2 worker axis (1 … 1,024); a dashed line at each
goal of a reproducible mode (90% at 64, 85% at 256, 75% at 1,024).
"""
import json, math, sys

out, series = sys.argv[1], [arg.split("=", 1) for arg in sys.argv[2:]]
W, H, L, R, T, B = 560, 320, 60, 130, 20, 45
colors = ["#1f6feb", "#d1242f", "#1a7f37", "#8250df", "#9a6700"]
def x(n): return L + (W - L - R) * math.log2(n) / 10          # 1 … 1024
def y(u): return T + (H - T - B) * (1 - u)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>']
for u in (0, 0.25, 0.5, 0.75, 1):
    svg.append(f'<line x1="{L}" x2="{W-R}" y1="{y(u)}" y2="{y(u)}" stroke="#ddd"/>'
               f'<text x="{L-8}" y="{y(u)+4}" text-anchor="end">{int(u*100)}%</text>')
for n in (1, 4, 16, 64, 256, 1024):
    svg.append(f'<text x="{x(n)}" y="{H-B+18}" text-anchor="middle">{n}</text>')
svg.append(f'<text x="{(L+W-R)/2}" y="{H-8}" text-anchor="middle">simulated workers</text>')
svg.append(f'<text x="14" y="{(T+H-B)/2}" text-anchor="middle" transform="rotate(-90 14 {(T+H-B)/2})">useful utilisation</text>')
svg.append(f'<line x1="{W-R+10}" x2="{W-R+30}" y1="{T+20+18*len(series)-4}" y2="{T+20+18*len(series)-4}" stroke="black" stroke-dasharray="3,2"/>'
           f'<text x="{W-R+36}" y="{T+20+18*len(series)}">goals</text>')
for n, goal in ((64, 0.9), (256, 0.85), (1024, 0.75)):
    svg.append(f'<line x1="{x(n)-12}" x2="{x(n)+12}" y1="{y(goal)}" y2="{y(goal)}" stroke="black" stroke-dasharray="3,2"/>')
for i, (label, path) in enumerate(series):
    rows = sorted((json.loads(l) for l in open(path) if l.startswith("{")), key=lambda r: r["workers"])
    points = " ".join(f'{x(r["workers"]):.1f},{y(r["useful_utilisation"]):.1f}' for r in rows)
    svg.append(f'<polyline points="{points}" fill="none" stroke="{colors[i % len(colors)]}" stroke-width="2"/>')
    for r in rows:
        svg.append(f'<circle cx="{x(r["workers"]):.1f}" cy="{y(r["useful_utilisation"]):.1f}" r="3" fill="{colors[i % len(colors)]}"/>')
    svg.append(f'<text x="{W-R+10}" y="{T+20+18*i}" fill="{colors[i % len(colors)]}">{label}</text>')
svg.append('</svg>')
open(out, "w").write("\n".join(svg) + "\n")
