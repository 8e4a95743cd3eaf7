#!/usr/bin/env python3
# ivykis-rs benchmarks, LGPL-2.1-only
"""Draw the scaling plots of bench/scaling.sh as SVG files.

Usage: plot.py SCALING_TSV OUT_DIR

Reads the TSV that scaling.sh writes (columns kind, n, lib, ir_per_op,
ns_per_op, ns_min, ns_max, ...; one row per workload kind, point and
library) and writes, for each kind present:

  OUT_DIR/fd_scaling.svg      kind "fds":    cost per fd event
  OUT_DIR/timer_scaling.svg   kind "timers": cost per timer operation

Each file has one panel for instructions per operation (callgrind) and, when
the TSV has timed figures, a second one for CPU time per operation (median,
with the min-max range as a bar). The x axis (number of registered objects)
is logarithmic, the y axes are linear from zero, so that growth with N shows
as a rising line. Only the Python standard library is used: the SVG is
written by hand.
"""

import csv
import math
import os
import sys
from xml.sax.saxutils import escape

# Drawing order, legend text, colour, dash pattern and marker per library.
LIBRARIES = [
    ("ours", "ours (libivykis.so.0, Rust)", "#d62728", "", "circle"),
    ("debian", "Debian libivykis0 (C ivykis)", "#1f77b4", "", "square"),
    ("raw", "raw epoll loop, no library", "#555555", "6 4", "diamond"),
]

FIGURES = {
    "fds": {
        "file": "fd_scaling.svg",
        "title": "fd dispatch: cost per event as registered descriptors grow",
        "subtitle": "fd_pingpong: a token hops around a ring of 4 pipes "
                    "while N pipe read ends are registered",
        "x_label": "registered descriptors N (log scale)",
        "ir_label": "instructions per event (callgrind Ir)",
        "ns_label": "CPU ns per event (median)",
    },
    "timers": {
        "file": "timer_scaling.svg",
        "title": "timers: cost per operation as registered timers grow",
        "subtitle": "timer_churn: register N random timers, cancel half, "
                    "fire the rest (register, cancel or fire = 1 op)",
        "x_label": "timers registered at once N (log scale)",
        "ir_label": "instructions per operation (callgrind Ir)",
        "ns_label": "CPU ns per operation (median)",
    },
}

PANEL_W = 440
PANEL_H = 300
MARGIN_LEFT = 78
MARGIN_RIGHT = 24
MARGIN_TOP = 74
MARGIN_BOTTOM = 58
LEGEND_H = 30
FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""


def number(text):
    """The float in a TSV cell, or None when it is empty."""
    text = (text or "").strip()
    if not text or text == "-":
        return None
    return float(text)


def read_rows(path):
    """{kind: {lib: [(n, ir, ns, ns_min, ns_max), ...]}} sorted by n."""
    data = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            point = (
                int(row["n"]),
                number(row.get("ir_per_op")),
                number(row.get("ns_per_op")),
                number(row.get("ns_min")),
                number(row.get("ns_max")),
            )
            data.setdefault(row["kind"], {}).setdefault(row["lib"], []).append(point)
    for libs in data.values():
        for points in libs.values():
            points.sort()
    return data


# Round axis tops (mantissas) and into how many steps each divides evenly.
NICE_STEPS = {1: 5, 1.2: 6, 1.5: 3, 2: 4, 2.5: 5, 3: 6, 4: 4, 5: 5, 6: 6, 8: 4, 10: 5}


def nice_ceiling(value):
    """A round number (a NICE_STEPS mantissa times a power of ten) >= value."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for mantissa in sorted(NICE_STEPS):
        if mantissa * power >= value * (1 - 1e-12):
            return mantissa * power
    return 10 * power


def y_ticks(top):
    """Tick values from 0 to top (a nice_ceiling value) in round steps."""
    power = 10 ** math.floor(math.log10(top))
    mantissa = round(top / power, 3)
    count = NICE_STEPS.get(mantissa, NICE_STEPS.get(int(mantissa), 5))
    return [top * i / count for i in range(count + 1)]


def label_count(n):
    """10000 -> "10k", 1000000 -> "1M", 9900 -> "9.9k"."""
    for scale, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= scale:
            text = f"{n / scale:.1f}".rstrip("0").rstrip(".")
            return text + suffix
    return str(n)


def label_value(v):
    if v == 0:
        return "0"
    if v >= 10000:
        return label_count(int(round(v)))
    if v == int(v):
        return str(int(v))
    return f"{v:g}"


def marker(shape, x, y, colour):
    if shape == "square":
        return (f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" '
                f'fill="{colour}"/>')
    if shape == "diamond":
        return (f'<path d="M{x:.1f},{y - 4.5:.1f} L{x + 4.5:.1f},{y:.1f} '
                f'L{x:.1f},{y + 4.5:.1f} L{x - 4.5:.1f},{y:.1f} Z" fill="{colour}"/>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.8" fill="{colour}"/>'


def panel(out, left, top, libs, value_index, y_label, x_label, heading, x_range):
    """One chart: axes, grid, a line per library. value_index selects ir or ns."""
    width = PANEL_W - MARGIN_LEFT - MARGIN_RIGHT
    height = PANEL_H - LEGEND_H - MARGIN_BOTTOM
    x0, y0 = left + MARGIN_LEFT, top + LEGEND_H
    lo_decade, hi_decade = x_range

    values = []
    for points in libs.values():
        for point in points:
            if point[value_index] is not None:
                values.append(point[value_index])
            if value_index == 2 and point[4] is not None:
                values.append(point[4])
    y_top = nice_ceiling(max(values) * 1.05) if values else 1.0
    ticks = y_ticks(y_top)

    def sx(n):
        span = hi_decade - lo_decade
        return x0 + width * (math.log10(max(n, 1)) - lo_decade) / span

    def sy(v):
        return y0 + height * (1 - v / y_top)

    out.append(f'<g class="panel">')
    out.append(f'<text x="{x0 + width / 2:.1f}" y="{top + 16}" text-anchor="middle" '
               f'font-size="13" font-weight="bold" {FONT}>{escape(heading)}</text>')
    # Horizontal grid and y tick labels.
    for tick in ticks:
        y = sy(tick)
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + width}" y2="{y:.1f}" '
                   f'stroke="#dddddd" stroke-width="1"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                   f'{FONT}>{label_value(tick)}</text>')
    # Vertical grid: decades (labelled) and the 2..9 steps between them.
    for decade in range(lo_decade, hi_decade + 1):
        x = sx(10 ** decade)
        out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + height}" '
                   f'stroke="#cccccc" stroke-width="1"/>')
        out.append(f'<line x1="{x:.1f}" y1="{y0 + height}" x2="{x:.1f}" '
                   f'y2="{y0 + height + 5}" stroke="#000000" stroke-width="1"/>')
        out.append(f'<text x="{x:.1f}" y="{y0 + height + 18}" text-anchor="middle" '
                   f'font-size="11" {FONT}>{label_count(10 ** decade)}</text>')
        if decade < hi_decade:
            for step in range(2, 10):
                xm = sx(step * 10 ** decade)
                out.append(f'<line x1="{xm:.1f}" y1="{y0 + height}" x2="{xm:.1f}" '
                           f'y2="{y0 + height + 3}" stroke="#000000" stroke-width="1"/>')
    # Axes.
    out.append(f'<rect x="{x0}" y="{y0}" width="{width}" height="{height}" fill="none" '
               f'stroke="#000000" stroke-width="1"/>')
    out.append(f'<text x="{x0 + width / 2:.1f}" y="{y0 + height + 40}" text-anchor="middle" '
               f'font-size="12" {FONT}>{escape(x_label)}</text>')
    cy = y0 + height / 2
    out.append(f'<text x="{left + 16}" y="{cy:.1f}" text-anchor="middle" font-size="12" '
               f'transform="rotate(-90 {left + 16} {cy:.1f})" {FONT}>{escape(y_label)}</text>')
    # One line per library.
    for lib, _title, colour, dash, shape in LIBRARIES:
        points = [p for p in libs.get(lib, []) if p[value_index] is not None]
        if not points:
            continue
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        path = " ".join(f"{'M' if i == 0 else 'L'}{sx(p[0]):.1f},{sy(p[value_index]):.1f}"
                        for i, p in enumerate(points))
        out.append(f'<g class="series-{lib}">')
        if value_index == 2:
            for p in points:
                if p[3] is not None and p[4] is not None and p[4] > p[3]:
                    x = sx(p[0])
                    out.append(f'<line x1="{x:.1f}" y1="{sy(p[3]):.1f}" x2="{x:.1f}" '
                               f'y2="{sy(p[4]):.1f}" stroke="{colour}" stroke-width="1" '
                               f'opacity="0.6"/>')
        out.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"'
                   f'{dash_attr}/>')
        for p in points:
            out.append(marker(shape, sx(p[0]), sy(p[value_index]), colour))
        out.append("</g>")
    out.append("</g>")


def figure(kind, libs, path):
    spec = FIGURES[kind]
    has_ns = any(p[2] is not None for points in libs.values() for p in points)
    has_ir = any(p[1] is not None for points in libs.values() for p in points)
    panels = []
    if has_ir:
        panels.append((1, spec["ir_label"], "instructions per operation (callgrind)"))
    if has_ns:
        panels.append((2, spec["ns_label"], "CPU time per operation (median; bar: min-max)"))
    if not panels:
        raise SystemExit(f"plot.py: no figures for {kind}")

    all_n = [p[0] for points in libs.values() for p in points]
    lo = math.floor(math.log10(min(all_n)))
    hi = math.ceil(math.log10(max(all_n)))
    if hi == lo:
        hi = lo + 1

    present = [entry for entry in LIBRARIES if entry[0] in libs]
    width = PANEL_W * len(panels) + 20
    height = MARGIN_TOP + PANEL_H + 4
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f"<title>{escape(spec['title'])}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{width / 2:.1f}" y="24" text-anchor="middle" font-size="16" '
        f'font-weight="bold" {FONT}>{escape(spec["title"])}</text>',
        f'<text x="{width / 2:.1f}" y="44" text-anchor="middle" font-size="12" '
        f'fill="#444444" {FONT}>{escape(spec["subtitle"])}</text>',
    ]
    # Legend, centred under the subtitle.
    item_w = 250
    legend_x = (width - item_w * len(present)) / 2
    for i, (lib, title, colour, dash, shape) in enumerate(present):
        x = legend_x + i * item_w
        y = 62
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x + 30:.1f}" y2="{y}" stroke="{colour}" '
                   f'stroke-width="2"{dash_attr}/>')
        out.append(marker(shape, x + 15, y, colour))
        out.append(f'<text x="{x + 38:.1f}" y="{y + 4}" font-size="12" {FONT}>'
                   f"{escape(title)}</text>")
    for i, (index, y_label, heading) in enumerate(panels):
        panel(out, 10 + i * PANEL_W, MARGIN_TOP, libs, index, y_label, spec["x_label"],
              heading, (lo, hi))
    out.append("</svg>")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(out) + "\n")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    data = read_rows(sys.argv[1])
    os.makedirs(sys.argv[2], exist_ok=True)
    wrote = []
    for kind, libs in data.items():
        if kind not in FIGURES:
            continue
        path = os.path.join(sys.argv[2], FIGURES[kind]["file"])
        figure(kind, libs, path)
        wrote.append(path)
    if not wrote:
        sys.exit("plot.py: nothing to plot in " + sys.argv[1])
    for path in wrote:
        print(f"plot.py: wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
