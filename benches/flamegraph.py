#!/usr/bin/env python3
"""Flame graph of a `perf script` dump: folded stacks and an SVG.

    perf script -i perf.data | benches/flamegraph.py --title T --folded out.folded > out.svg

Debian ships no flame graph renderer (FlameGraph's scripts and inferno are not
packaged), so benches/profile.sh uses this one. The folded file ("root;...;leaf
count" per line) is the format those tools and speedscope read, for anyone who
has them. The SVG is the classic layout: one box per frame, its width the
share of samples with that frame on the stack at that depth, callers below
callees; kernel frames in orange, user space in red-yellow; each box's tooltip
gives the frame and its share.
"""

import argparse
import html
import re
import sys
import zlib
from collections import Counter

WIDTH = 1600
ROW = 17
FONT = 11
# Boxes narrower than this many pixels are left out (their samples still
# count in their callers' widths).
MIN_WIDTH = 0.3


def frames_of(lines):
    """Yields each sample's stack, root first, from `perf script` text."""
    stack = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                yield list(reversed(stack))
                stack = []
            continue
        if not line[0].isspace():
            # A sample's header line (command, pid, time, event).
            continue
        parts = line.split(None, 1)
        if len(parts) < 2:
            continue
        sym, _, module = parts[1].rpartition(" (")
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym.strip()) or "[unknown]"
        if sym == "[unknown]":
            sym = f"[unknown {module.rstrip(')').rsplit('/', 1)[-1]}]"
        if "kernel" in module:
            sym += "_[k]"
        stack.append(sym.replace(";", ":"))
    if stack:
        yield list(reversed(stack))


def fold(lines):
    counts = Counter()
    for stack in frames_of(lines):
        counts[";".join(stack)] += 1
    return counts


def color(name):
    # crc32, not hash(): the same frame gets the same colour in every run.
    h = zlib.crc32(name.encode()) & 0xFFFF
    if name.endswith("_[k]"):
        return f"rgb({220 + h % 35},{120 + h % 60},{40 + h % 30})"
    return f"rgb({225 + h % 30},{60 + h % 130},{50 + h % 40})"


def svg(counts, title):
    total = sum(counts.values())
    # Merged tree: node = (children dict, count).
    root = {}
    for stack, n in counts.items():
        level = root
        for frame in stack.split(";"):
            node = level.setdefault(frame, [{}, 0])
            node[1] += n
            level = node[0]
    depth_max = 0
    boxes = []

    def walk(level, x, depth):
        nonlocal depth_max
        for name, (children, n) in sorted(level.items()):
            w = n / total * WIDTH
            if w >= MIN_WIDTH:
                depth_max = max(depth_max, depth)
                boxes.append((x, depth, w, name, n))
                walk(children, x, depth + 1)
            x += w

    walk(root, 0.0, 0)
    height = (depth_max + 1) * ROW + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'font-family="monospace" font-size="{FONT}">',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="14">{html.escape(title)} '
        f"({total} samples)</text>",
    ]
    for x, depth, w, name, n in boxes:
        y = height - (depth + 1) * ROW - 4
        label = name[: int(w / (FONT * 0.6))] if w > 3 * FONT else ""
        out.append(
            f'<g><title>{html.escape(name)} ({n} samples, {100 * n / total:.2f}%)</title>'
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 1}" fill="{color(name)}"/>'
            f'<text x="{x + 2:.1f}" y="{y + ROW - 5}">{html.escape(label)}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", nargs="?", help="perf script output (default: stdin)")
    ap.add_argument("--title", default="flame graph")
    ap.add_argument("--folded", help="also write the folded stacks here")
    args = ap.parse_args()
    src = open(args.input, encoding="utf-8", errors="replace") if args.input else sys.stdin
    with src:
        counts = fold(src)
    if not counts:
        sys.exit("flamegraph.py: no stacks in the input (perf record --call-graph ...?)")
    if args.folded:
        with open(args.folded, "w", encoding="utf-8") as f:
            for stack, n in sorted(counts.items()):
                f.write(f"{stack} {n}\n")
    sys.stdout.write(svg(counts, args.title))


if __name__ == "__main__":
    main()
