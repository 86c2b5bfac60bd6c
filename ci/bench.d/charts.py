#!/usr/bin/env python3
"""Draws BENCHMARKS.md's charts from the table ci/bench writes: knock success %
and server CPU against flood rate, ours against knockd 0.8, and the knock ->
command latency. SVG, standard library only, so ci/bench needs nothing more.

  charts.py --table TABLE.md --out DIR [--latency NAME=JSON ...]

TABLE.md is ci/bench's table (BENCH_TABLE). Each --latency is a server's name
and the JSON `knockbench.py latency` printed for it; when that holds the
samples (samples_ms), the latency chart is their distribution (a CDF), else
the table's median and p99. Writes DIR/flood-success.svg, DIR/flood-cpu.svg
and DIR/latency.svg.
"""

import argparse
import json
import os
import re

SERVERS = ("knockd-rs", "knockd 0.8")
COLOURS = {"knockd-rs": "#1f77b4", "knockd 0.8": "#d62728"}
WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 62, 60


def read_table(path):
    """{measure: (ours, theirs)} from the table's rows."""
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 3 and not set(cells[0]) <= set("-"):
                rows[cells[0]] = (cells[1], cells[2])
    return rows


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def flood_series(rows, what):
    """[(rate label, ours, theirs)] for the flood rows ending in `what`."""
    series = []
    for measure, (ours, theirs) in rows.items():
        m = re.match(r"flood (\S+)(?: \(generator top speed\))?: " + re.escape(what) + "$", measure)
        if m:
            series.append((m.group(1), number(ours), number(theirs)))
    return series


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Svg:
    """A plot area with axes; x and y map data to pixels."""

    def __init__(self, title, x_label, y_label, y_max):
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'font-family="sans-serif" font-size="12">',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
            f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>',
            f'<text x="{WIDTH / 2}" y="{HEIGHT - 12}" text-anchor="middle">{escape(x_label)}</text>',
            f'<text transform="translate(16 {TOP + self.plot_height() / 2}) rotate(-90)" '
            f'text-anchor="middle">{escape(y_label)}</text>',
        ]
        self.y_max = y_max
        for k in range(6):
            value = y_max * k / 5
            y = self.y(value)
            self.parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
            self.parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
        self.parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="black"/>')
        self.parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}" stroke="black"/>')

    @staticmethod
    def plot_height():
        return HEIGHT - TOP - BOTTOM

    @staticmethod
    def plot_width():
        return WIDTH - LEFT - RIGHT

    def y(self, value):
        return HEIGHT - BOTTOM - self.plot_height() * min(value, self.y_max) / self.y_max

    def legend(self, names):
        for k, name in enumerate(names):
            x = LEFT + 12 + 130 * k
            self.parts.append(f'<rect x="{x}" y="{TOP - 28}" width="12" height="12" fill="{COLOURS[name]}"/>')
            self.parts.append(f'<text x="{x + 16}" y="{TOP - 18}">{escape(name)}</text>')

    def write(self, path):
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.parts + ["</svg>"]) + "\n")


def line_chart(path, title, y_label, y_max, series):
    """One line per server over the flood rates, evenly spaced."""
    svg = Svg(title, "flood rate (spoofed SYNs per second)", y_label, y_max)
    step = Svg.plot_width() / max(len(series), 1)
    xs = [LEFT + step * (k + 0.5) for k in range(len(series))]
    for x, (label, _, _) in zip(xs, series):
        svg.parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{escape(label)}</text>')
    for column, name in ((1, SERVERS[0]), (2, SERVERS[1])):
        points = [(x, row[column]) for x, row in zip(xs, series) if row[column] is not None]
        if not points:
            continue
        path_d = " ".join(f"{x:.1f},{svg.y(v):.1f}" for x, v in points)
        svg.parts.append(f'<polyline points="{path_d}" fill="none" stroke="{COLOURS[name]}" stroke-width="2"/>')
        for x, v in points:
            svg.parts.append(f'<circle cx="{x:.1f}" cy="{svg.y(v):.1f}" r="3" fill="{COLOURS[name]}"/>')
    svg.legend(SERVERS)
    svg.write(path)


def latency_chart(path, rows, latencies):
    """The distribution of the samples when every server has them, else median and p99."""
    samples = {name: sorted(data.get("samples_ms") or []) for name, data in latencies.items()}
    if latencies and all(samples.values()):
        top = max(max(s) for s in samples.values())
        svg = Svg("Knock -> command latency: distribution", "milliseconds", "share of knocks (%)", 100)
        for k in range(6):
            value = top * k / 5
            x = LEFT + Svg.plot_width() * k / 5
            svg.parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{value:.3g}</text>')
        for name, values in samples.items():
            points = " ".join(
                f"{LEFT + Svg.plot_width() * v / top:.1f},{svg.y(100 * (k + 1) / len(values)):.1f}"
                for k, v in enumerate(values)
            )
            svg.parts.append(f'<polyline points="{points}" fill="none" stroke="{COLOURS.get(name, "black")}" stroke-width="2"/>')
        svg.legend([n for n in samples if n in COLOURS])
        svg.write(path)
        return
    bars = []
    for label, measure in (("median", "latency knock -> command, median (ms)"),
                           ("p99", "latency knock -> command, p99 (ms)")):
        ours, theirs = rows.get(measure, ("n/a", "n/a"))
        bars.append((label, number(ours), number(theirs)))
    top = max([v for _, a, b in bars for v in (a, b) if v is not None] or [1])
    y_max = 10 ** len(str(int(top))) if top >= 1 else 1
    y_max = next(m for m in (y_max / 5, y_max / 2, y_max) if m >= top)
    svg = Svg("Knock -> command latency", "", "milliseconds", y_max)
    group = Svg.plot_width() / len(bars)
    for k, (label, ours, theirs) in enumerate(bars):
        x0 = LEFT + group * k
        svg.parts.append(f'<text x="{x0 + group / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{label}</text>')
        for j, (name, value) in enumerate(((SERVERS[0], ours), (SERVERS[1], theirs))):
            if value is None:
                continue
            x = x0 + group * (0.2 + 0.3 * j)
            y = svg.y(value)
            svg.parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{group * 0.28:.1f}" '
                             f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{COLOURS[name]}"/>')
            svg.parts.append(f'<text x="{x + group * 0.14:.1f}" y="{y - 4:.1f}" text-anchor="middle">{value:g}</text>')
    svg.legend(SERVERS)
    svg.write(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--latency", action="append", default=[], metavar="NAME=JSON")
    args = parser.parse_args()
    rows = read_table(args.table)
    latencies = {}
    for item in args.latency:
        name, _, text = item.partition("=")
        if text:
            latencies[name] = json.loads(text)
    os.makedirs(args.out, exist_ok=True)
    line_chart(os.path.join(args.out, "flood-success.svg"),
               "Real knocks that opened the door during a spoofed SYN flood",
               "knock success (%)", 100, flood_series(rows, "knock success %"))
    line_chart(os.path.join(args.out, "flood-cpu.svg"),
               "Server CPU during the flood",
               "CPU (% of one core)", 100, flood_series(rows, "server CPU % of one core"))
    latency_chart(os.path.join(args.out, "latency.svg"), rows, latencies)


if __name__ == "__main__":
    main()
