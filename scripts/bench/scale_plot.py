#!/usr/bin/env python3
"""Log-log plots of the cost curves (issue 22), without plotting libraries: SVG written by hand.

Reads `make bench-scale` lines (key=value fields, one line per size and candidate set) from the files given
(or standard input), keeps the lines of one candidate set (--candidates, default auto), and for each curve
(a numeric field, against events) fits the growth exponent by least squares on log-log (slope of
log(value) on log(events)) and writes docs/scaling/<field>.svg (--out). Prints a markdown table: field,
values per size, exponent.

    python3 scripts/bench/scale_plot.py --out docs/scaling results.txt
"""
import argparse
import math
import os
import sys

CURVES = [
    ("train_s", "training wall time", "s"),
    ("train_s@implicit-als", "training wall time, ALS pinned", "s"),
    ("train_peak_mib", "training peak RSS", "MiB"),
    ("train_peak_mib@implicit-als", "training peak RSS, ALS pinned", "MiB"),
    ("artifact_mib", "artifact size", "MiB"),
    ("load_s", "artifact load time (API)", "s"),
    ("api_p99_ms", "API p99 at 2k req/s offered", "ms"),
    ("api_rss_mib", "API peak RSS", "MiB"),
    ("redis_bytes_per_user", "Redis bytes per user", "B"),
    ("redis_bytes_per_item", "Redis bytes per item", "B"),
    ("redis_bytes_per_event", "Redis bytes per event id kept", "B"),
    ("backfill_events_per_s", "feature writer events/s (backfill)", "events/s"),
    ("processor_events_per_s", "processor events/s (Kafka to Redis and PostgreSQL)", "events/s"),
]


def parse(lines):
    rows = []
    for line in lines:
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if "events" in fields:
            rows.append(fields)
    return rows


def slope(xs, ys):
    """Least-squares slope of log y on log x (None with fewer than two points)."""
    points = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len(points) < 2:
        return None
    mx = sum(p[0] for p in points) / len(points)
    my = sum(p[1] for p in points) / len(points)
    sxx = sum((p[0] - mx) ** 2 for p in points)
    if sxx == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in points) / sxx


def decades(low, high):
    """Powers of ten covering [low, high] (at least one decade)."""
    a = math.floor(math.log10(low))
    b = math.ceil(math.log10(high))
    if a == b:
        b += 1
    return a, b


def svg(title, unit, xs, ys, exponent):
    width, height, left, right, top, bottom = 560, 320, 70, 60, 40, 50
    xa, xb = decades(min(xs), max(xs))
    ya, yb = decades(min(ys), max(ys))

    def px(x):
        return left + (width - left - right) * (math.log10(x) - xa) / (xb - xa)

    def py(y):
        return height - bottom - (height - top - bottom) * (math.log10(y) - ya) / (yb - ya)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>']
    for d in range(xa, xb + 1):
        x = px(10 ** d)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{height - bottom + 15}" text-anchor="middle">1e{d}</text>')
    for d in range(ya, yb + 1):
        y = py(10 ** d)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">1e{d}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" fill="none" stroke="black"/>')
    fit = "" if exponent is None else f" (fitted exponent {exponent:.2f})"
    out.append(f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{title}{fit}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle">events (log)</text>')
    out.append(f'<text x="14" y="{height / 2}" text-anchor="middle" transform="rotate(-90 14 {height / 2})">{unit} (log)</text>')
    if exponent is not None:
        # The fitted line through the points' log means.
        lx = [math.log10(x) for x in xs]
        ly = [math.log10(y) for y in ys]
        mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
        x0, x1 = min(xs), max(xs)
        y0 = 10 ** (my + exponent * (math.log10(x0) - mx))
        y1 = 10 ** (my + exponent * (math.log10(x1) - mx))
        out.append(f'<line x1="{px(x0):.1f}" y1="{py(y0):.1f}" x2="{px(x1):.1f}" y2="{py(y1):.1f}" stroke="steelblue" stroke-dasharray="4 3"/>')
    for x, y in zip(xs, ys):
        out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="steelblue"/>')
        out.append(f'<text x="{px(x) + 6:.1f}" y="{py(y) - 6:.1f}">{y:g}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*")
    parser.add_argument("--candidates", default="auto")
    parser.add_argument("--out", default="docs/scaling")
    args = parser.parse_args()
    lines = []
    for name in args.files or ["-"]:
        lines += (sys.stdin if name == "-" else open(name)).read().splitlines()
    # One row per size: the chosen candidate set's line, with every other line's fields of that size as
    # field@candidates, and the fields it lacks (the Redis figures, printed on a size's last line) filled in.
    bysize = {}
    for row in parse(lines):
        bysize.setdefault(row["events"], []).append(row)
    rows = []
    for events, group in bysize.items():
        chosen = [row for row in group if row.get("candidates", args.candidates) == args.candidates]
        if not chosen:
            continue
        merged = dict(chosen[0])
        for row in group:
            for key, value in row.items():
                merged.setdefault(key, value)
                merged.setdefault(f"{key}@{row.get('candidates', '')}", value)
        rows.append(merged)
    rows.sort(key=lambda row: float(row["events"]))
    os.makedirs(args.out, exist_ok=True)
    sizes = [row["events"] for row in rows]
    print("| curve | " + " | ".join(f"{int(s):,} events".replace(",", " ") for s in sizes) + " | fitted exponent (log-log, vs events) | plot |")
    print("| --- | " + " | ".join("---:" for _ in sizes) + " | ---: | --- |")
    for field, title, unit in CURVES:
        pairs = []
        for row in rows:
            try:
                pairs.append((float(row["events"]), float(row[field])))
            except (KeyError, ValueError):
                pairs.append((float(row["events"]), None))
        measured = [(x, y) for x, y in pairs if y is not None and y > 0]
        if not measured:
            continue
        xs, ys = zip(*measured)
        exponent = slope(xs, ys)
        path = os.path.join(args.out, f"{field.replace('@', '-')}.svg")
        with open(path, "w") as handle:
            handle.write(svg(title, unit, xs, ys, exponent))
        cells = " | ".join("–" if y is None else f"{y:g}" for _, y in pairs)
        exponent_text = "–" if exponent is None else f"{exponent:.2f}" + ("" if len(measured) > 2 else " (2 points)")
        print(f"| {title} ({unit}) | {cells} | {exponent_text} | [{os.path.basename(path)}]({os.path.relpath(path, 'docs')}) |")


if __name__ == "__main__":
    main()
