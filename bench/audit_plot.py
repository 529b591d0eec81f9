"""Table and SVG plot of the Azure-side audit against the floor, from bench/results/audit-scale*.json.

    python bench/audit_plot.py [results.json ...]

Reads the results of bench/audit_scale.py or of bench/azure_scale.py (floor, inventory, audit, drift poll...).
Writes docs/images/audit-scaling.svg (a hand-written SVG: no plotting library needed) and prints the Markdown
table for docs/performance.md. Series: every kind measured.
"""

import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLOURS = ["#57606a", "#cf222e", "#0969da", "#1a7f37", "#9a6700"]


def load(paths):
    """Results of bench/audit_scale.py (a list) or bench/azure_scale.py ({"results": {size: {kind: ...}}})."""
    rows = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if isinstance(data, dict):
            data = [{"machines": int(size),
                     "median_s": {k: v["seconds"] for k, v in kinds.items() if isinstance(v, dict) and "seconds" in v}}
                    for size, kinds in data["results"].items()]
        for result in data:
            result["ratio"] = result["median_s"]["audit"] / result["median_s"]["floor"]
            rows[result["machines"]] = result
    return [rows[k] for k in sorted(rows)]


def svg(results, width=720, height=420, pad=70):
    series = list(dict.fromkeys(k for r in results for k in r["median_s"]))
    xs = [r["machines"] for r in results]
    top = max(v for r in results for v in r["median_s"].values()) * 1.1

    def px(x):
        return pad + (width - 2 * pad) * x / max(xs)

    def py(y):
        return height - pad + 0 - (height - 2 * pad) * y / top
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">'
           % (width, height), '<rect width="100%" height="100%" fill="#ffffff"/>',
           '<text x="%d" y="24" font-size="15" font-weight="bold">The fleet from Azure against the floor '
           '(wall time, seconds)</text>' % pad,
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#1b1f24"/>' % (pad, height - pad, width - pad, height - pad),
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#1b1f24"/>' % (pad, pad, pad, height - pad)]
    for x in xs:
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (px(x), height - pad + 18, format(x, ",")))
    for step in range(6):
        y = top * step / 5
        out.append('<text x="%d" y="%.1f" text-anchor="end">%.0f</text>' % (pad - 6, py(y) + 4, y))
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eaeef2"/>' % (pad, py(y), width - pad, py(y)))
    out.append('<text x="%d" y="%d" text-anchor="middle">Arc machines</text>' % (width / 2, height - 20))
    for index, name in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        points = [(px(r["machines"]), py(r["median_s"][name])) for r in results if name in r["median_s"]]
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                   % (colour, " ".join("%.1f,%.1f" % p for p in points)))
        out.extend('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (x, y, colour) for x, y in points)
        out.append('<text x="%d" y="%d" fill="%s">&#9632; %s</text>' % (pad + 10, pad + 16 * index, colour, name))
    out.append("</svg>\n")
    return "\n".join(out)


def table(results):
    series = list(dict.fromkeys(k for r in results for k in r["median_s"]))
    lines = ["| machines | %s | audit / floor | audit per 1,000 machines |" % " | ".join(series),
             "|---|%s---|---|" % ("---|" * len(series))]
    for r in results:
        cells = ["%.1f s" % r["median_s"][s] if s in r["median_s"] else "" for s in series]
        lines.append("| %s | %s | %.2fx | %.2f s |" % (format(r["machines"], ","), " | ".join(cells), r["ratio"],
                                                       r["median_s"]["audit"] * 1000 / r["machines"]))
    return "\n".join(lines)


def main():
    paths = sys.argv[1:] or sorted(glob.glob(os.path.join(ROOT, "bench", "results", "audit-scale*.json")))
    results = load(paths)
    os.makedirs(os.path.join(ROOT, "docs", "images"), exist_ok=True)
    with open(os.path.join(ROOT, "docs", "images", "audit-scaling.svg"), "w", encoding="utf-8") as handle:
        handle.write(svg(results))
    print(table(results))


if __name__ == "__main__":
    main()
