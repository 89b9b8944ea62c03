#!/usr/bin/env python3
"""Turns strata_bench's JSON into a markdown table and an SVG bar chart.

Each row is one resource on one workload: time per item (the median of the
repetitions when there are any), the ratio against the resource's standard peer
and against new_delete_resource (how many times faster: above 1 is better),
and, where measured, the bytes held upstream per byte live.

With strata_phase_shift's output, the report gains a phase-shift section (a
table of held/live and rss/live per phase, and an SVG line chart of both over
time) and a tail-latency table.

Usage: report.py [results.json] [--markdown out.md] [--svg out.svg]
                 [--phase-summary phase.json --phase-csv phase.csv
                  --phase-svg phase.svg] [--latency latency.json]
"""

import argparse
import csv
import json
import os
import sys
from collections import OrderedDict
from xml.sax.saxutils import escape

BASELINE = "new_delete"

# Workloads in the order the report shows them; others follow, sorted.
WORKLOAD_ORDER = [
    "Fixed64", "Fixed64Concrete", "Batch1024", "MixedWorkingSet", "ListInt",
    "MapInt", "UnorderedMapString", "VectorString", "RequestCycle",
    "SharedFixed64", "SharedMixed", "CrossThreadFree", "FlatHashMap",
]


def load_rows(path):
    """Returns OrderedDict {(workload, threads): OrderedDict {resource: row}}."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    entries = data.get("benchmarks", [])
    have_medians = any(e.get("aggregate_name") == "median" for e in entries)
    groups = OrderedDict()
    for e in entries:
        if have_medians and e.get("aggregate_name") != "median":
            continue
        if not have_medians and e.get("run_type") != "iteration":
            continue
        if e.get("error_occurred"):
            continue
        parts = e.get("run_name", e["name"]).split("/")
        if len(parts) < 2 or not parts[0].startswith("BM_"):
            continue
        workload, resource = parts[0][3:], parts[1]
        threads = int(e.get("threads", 1))
        if e.get("items_per_second"):
            ns = 1e9 / float(e["items_per_second"])
        else:
            scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[e.get("time_unit", "ns")]
            ns = float(e["real_time"]) * scale
        row = {
            "ns": ns,
            "held_per_live": e.get("held_per_live"),
            "held_per_live_peak": e.get("held_per_live_peak"),
            "upstream_per_cycle": e.get("upstream_per_cycle"),
            "pauses": {k: v for k, v in e.items() if k in PAUSE_COUNTERS},
        }
        groups.setdefault((workload, threads), OrderedDict())[resource] = row
    context = data.get("context", {})
    peers = {
        key[len("peer:"):]: value
        for key, value in context.items()
        if key.startswith("peer:")
    }
    return in_order(groups, context.get("resource_order", "").split(",")), peers


def in_order(groups, resource_order):
    """Workloads and, within each, resources in a fixed order: repetitions
    interleaved at random come out of the benchmark in any order."""
    rank = {name: i for i, name in enumerate(resource_order) if name}
    workload_rank = {name: i for i, name in enumerate(WORKLOAD_ORDER)}

    def group_key(key):
        workload, threads = key
        return (workload_rank.get(workload, len(WORKLOAD_ORDER)), workload, threads)

    ordered = OrderedDict()
    for key in sorted(groups, key=group_key):
        rows = groups[key]
        ordered[key] = OrderedDict(
            sorted(rows.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))
        )
    return ordered


# Counters of the governor workloads, shown in their own table.
PAUSE_COUNTERS = [
    "limit_mib", "peak_unbounded_mib", "live_mib", "limit_hits", "refused",
    "pauses", "pause_lt_1us", "pause_lt_10us", "pause_lt_100us",
    "pause_lt_1ms", "pause_lt_10ms", "pause_ge_10ms", "pause_max_us",
    "reclaimed_mib",
]


def pause_table(groups):
    """The pause histograms the governor workloads report, if any."""
    lines = []
    for (workload, threads), rows in groups.items():
        for resource, row in rows.items():
            counters = row.get("pauses") or {}
            if "pauses" not in counters:
                continue
            if not lines:
                lines = [
                    "",
                    "## Governor pauses",
                    "",
                    "| workload | resource | "
                    + " | ".join(PAUSE_COUNTERS) + " |",
                    "|---|---|" + "---:|" * len(PAUSE_COUNTERS),
                ]
            cells = []
            for name in PAUSE_COUNTERS:
                value = counters.get(name)
                cells.append("—" if value is None else f"{value:.6g}")
            lines.append(f"| {workload} | {resource} | " + " | ".join(cells) + " |")
    if lines:
        lines += [
            "",
            "Pauses are reclaim steps an allocating thread ran when the budget"
            " (limit_mib, 80% of the footprint the same workload reaches"
            " without one) refused it: counts by duration, the longest in"
            " microseconds; refused: allocations that failed in the end.",
        ]
    return "\n".join(lines) + ("\n" if lines else "")


def ratio(rows, resource, other):
    if other is None or other == resource or other not in rows:
        return None
    return rows[other]["ns"] / rows[resource]["ns"]


def fmt_ratio(value, name=None):
    if value is None:
        return "—"
    text = f"{value:.2f}x"
    return f"{text} ({name})" if name else text


def fmt_held(mean, peak):
    if mean is None:
        return "—"
    return f"{mean:.2f} ({peak:.2f})" if peak is not None else f"{mean:.2f}"


def markdown(groups, peers):
    lines = [
        "| workload | threads | resource | ns/item | vs std peer | vs new_delete"
        " | held/live | upstream calls/cycle |",
        "|---|---:|---|---:|---|---:|---:|---:|",
    ]
    for (workload, threads), rows in groups.items():
        for resource, row in rows.items():
            peer = peers.get(resource)
            held = row["held_per_live"]
            peak = row["held_per_live_peak"]
            calls = row["upstream_per_cycle"]
            lines.append(
                "| {} | {} | {} | {:.1f} | {} | {} | {} | {} |".format(
                    workload,
                    threads,
                    resource,
                    row["ns"],
                    fmt_ratio(ratio(rows, resource, peer), peer),
                    fmt_ratio(ratio(rows, resource, BASELINE)),
                    fmt_held(held, peak),
                    f"{calls:.2f}" if calls is not None else "—",
                )
            )
    notes = [
        "",
        "ns/item: wall time per item (one allocate/free pair, element or node)"
        " counting the items of all threads; the median where the run had"
        " repetitions.",
        "vs: how many times faster than that resource on the same workload"
        " (above 1 is faster).",
        "held/live: bytes held from the upstream (malloc's, for new_delete)"
        " per byte the working set holds: the mean (and, in brackets, the"
        " peak) of 16 samples spread over one pass of the plan (65,536"
        " steps) taken after the timed loop, so the figure does not depend"
        " on where the iteration count ends.",
        "upstream calls/cycle: upstream allocations per request cycle in the"
        " timed loop (0 once a resource keeps what it got).",
        "Cycles end with release() for monotonic_buffer_resource and reset()"
        " for monotonic_arena (which keeps its chunks).",
    ]
    return "\n".join(lines + notes) + "\n" + pause_table(groups)


def svg(groups):
    """One horizontal bar per row, scaled within its workload."""
    width, label_w, bar_w, row_h, gap = 960, 330, 520, 16, 10
    height = 30 + sum(len(rows) * row_h + gap + row_h for rows in groups.values())
    palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
               "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
    colours = {}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" font-family="sans-serif" font-size="11">',
        '<text x="10" y="18" font-size="13" font-weight="bold">'
        "strata vs std::pmr: ns per item (shorter is faster)</text>",
    ]
    y = 30
    for (workload, threads), rows in groups.items():
        out.append(
            f'<text x="10" y="{y + 12}" font-weight="bold">'
            f"{escape(workload)} ({threads} thread{'s' if threads > 1 else ''})</text>"
        )
        y += row_h
        longest = max(row["ns"] for row in rows.values()) or 1.0
        for resource, row in rows.items():
            colour = colours.setdefault(resource, palette[len(colours) % len(palette)])
            length = max(1.0, bar_w * row["ns"] / longest)
            out.append(f'<text x="20" y="{y + 11}">{escape(resource)}</text>')
            out.append(
                f'<rect x="{label_w - 140}" y="{y + 2}" width="{length:.1f}" '
                f'height="{row_h - 4}" fill="{colour}"/>'
            )
            out.append(
                f'<text x="{label_w - 140 + length + 4:.1f}" y="{y + 11}">'
                f'{row["ns"]:.1f} ns</text>'
            )
            y += row_h
        y += gap
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --- strata_phase_shift: the phase-shift workload and tail latency ---------

PHASE_NOTES = [
    "",
    "A live set of 16 B-64 KiB blocks (sizes log-uniform, skewed to small),"
    " one random block freed and replaced per step at a fixed rate, through"
    " five phases: small (92% of sizes 16-512 B), large (10% 4-64 KiB, about"
    " six times the live bytes), small, large, small. Each resource runs in"
    " a process of its own.",
    "",
    "held/live: bytes the resource holds from its upstream (for new_delete,"
    " what glibc holds from the system: arena + mmapped, from mallinfo2) per"
    " byte the workload holds; rss/live: the process's resident memory above"
    " a baseline read before the resource was built, per byte live. Each cell"
    " is the value at the end of the phase and, in brackets, the worst within"
    " the last 2 s of the phase (the whole phase past its start when the"
    " phase is shorter).",
]


def load_phase(summary_path, csv_path):
    with open(summary_path, encoding="utf-8") as f:
        summary = json.load(f)
    samples = []
    if csv_path:
        with open(csv_path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                samples.append({
                    "resource": row["resource"],
                    "threads": int(row["threads"]),
                    "t_ms": int(row["t_ms"]),
                    "phase": row["phase"],
                    "live": int(row["live"]),
                    "held": int(row["held"]),
                    "rss": int(row["rss"]),
                })
    return summary, samples


def phase_markdown(summary, svg_name):
    settings = summary.get("settings", {})
    phases = summary.get("phases", [])
    rows = OrderedDict()
    for r in summary.get("rows", []):
        rows.setdefault((r["resource"], r["threads"]), {})[r["phase"]] = r
    decay = settings.get("decay_ms")
    lines = [
        "",
        "## Phase shift: what each resource keeps as the heap changes shape",
        "",
        "Settings: {} s per phase, a sample every {} ms, {} live blocks, {}"
        " steps/s, decay {} ({}).".format(
            settings.get("phase_seconds"), settings.get("sample_ms"),
            settings.get("live_blocks"), settings.get("steps_per_second"),
            f"{decay} ms" if decay is not None else "the resources' defaults",
            settings.get("decay_support", "?")),
    ]
    header = "| resource | threads | " + " | ".join(
        f"{i + 1}: {name}" for i, name in enumerate(phases)) + " |"
    rule = "|---|---:|" + "---:|" * len(phases)
    for metric, title in (("held_per_live", "held/live"),
                          ("rss_per_live", "rss/live")):
        lines += ["", f"**{title}** at the end of each phase (worst in its last 2 s)",
                  "", header, rule]
        for (resource, threads), by_phase in rows.items():
            cells = []
            for i in range(len(phases)):
                r = by_phase.get(i)
                cells.append("—" if r is None else
                             f"{r[metric]:.2f} ({r['worst_' + metric]:.2f})")
            lines.append(f"| {resource} | {threads} | " + " | ".join(cells) + " |")
    lines += ["", "**live MiB** at the end of each phase", "", header, rule]
    for (resource, threads), by_phase in rows.items():
        cells = []
        for i in range(len(phases)):
            r = by_phase.get(i)
            cells.append("—" if r is None else f"{r['live'] / 2**20:.1f}")
        lines.append(f"| {resource} | {threads} | " + " | ".join(cells) + " |")
    lines += PHASE_NOTES
    if svg_name:
        lines += ["", f"![held/live and rss/live over time]({svg_name})"]
    return "\n".join(lines) + "\n"


def phase_svg(summary, samples):
    """Line charts of held/live and rss/live over time: one panel per metric
    and thread count, one line per resource, large phases shaded."""
    phase_s = float(summary.get("settings", {}).get("phase_seconds", 1))
    phases = summary.get("phases", [])
    total_s = phase_s * max(1, len(phases))
    threads_list = sorted({s["threads"] for s in samples})
    resources = list(OrderedDict.fromkeys(s["resource"] for s in samples))
    palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
               "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
    colour = {r: palette[i % len(palette)] for i, r in enumerate(resources)}
    width, left, right, top = 960, 60, 190, 40
    panel_h, plot_h, y_cap = 260, 200, 20.0
    panels = [(metric, t) for metric in ("held", "rss") for t in threads_list]
    height = top + panel_h * len(panels) + 10
    plot_w = width - left - right
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="10" y="20" font-size="13" font-weight="bold">'
        "Phase shift: bytes held per byte live over time (lower is better;"
        " large phases shaded)</text>",
    ]
    for index, (metric, threads) in enumerate(panels):
        y0 = top + index * panel_h
        series = OrderedDict()
        for s in samples:
            if s["threads"] != threads or s["t_ms"] == 0 or s["live"] <= 0:
                continue
            series.setdefault(s["resource"], []).append(
                (s["t_ms"] / 1000.0, s[metric] / s["live"]))
        if not series:
            continue
        peak = max(v for points in series.values() for _, v in points)
        y_max = min(y_cap, max(2.0, float(int(peak) + 1)))
        px = lambda t: left + plot_w * t / total_s
        py = lambda v: y0 + 20 + plot_h * (1 - min(v, y_max) / y_max)
        label = "held/live" if metric == "held" else "rss/live"
        out.append(
            f'<text x="{left}" y="{y0 + 14}" font-weight="bold">{label},'
            f" {threads} thread{'s' if threads > 1 else ''}</text>")
        for p, name in enumerate(phases):
            x = px(p * phase_s)
            if p % 2 == 1:
                out.append(
                    f'<rect x="{x:.1f}" y="{y0 + 20}" width="{plot_w * phase_s / total_s:.1f}"'
                    f' height="{plot_h}" fill="#eeeeee"/>')
            out.append(
                f'<text x="{x + 3:.1f}" y="{y0 + 31}" fill="#777777">'
                f"{escape(name)}</text>")
        step = 1 if y_max <= 6 else (2 if y_max <= 12 else 5)
        v = 0
        while v <= y_max:
            y = py(v)
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" '
                       f'y2="{y:.1f}" stroke="#dddddd"/>')
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" '
                       f'text-anchor="end">{v}</text>')
            v += step
        out.append(f'<rect x="{left}" y="{y0 + 20}" width="{plot_w}" '
                   f'height="{plot_h}" fill="none" stroke="#999999"/>')
        t = 0.0
        tick = max(1.0, round(total_s / 10))
        while t <= total_s + 1e-9:
            out.append(f'<text x="{px(t):.1f}" y="{y0 + 20 + plot_h + 13}" '
                       f'text-anchor="middle">{t:g} s</text>')
            t += tick
        for n, (resource, points) in enumerate(series.items()):
            path = " ".join(f"{px(t):.1f},{py(v):.1f}" for t, v in points)
            # Every other resource dashed, so lines that coincide (the sync
            # pool alone and in the recommended stack) both show.
            dash = ' stroke-dasharray="6,3"' if resources.index(resource) % 2 else ""
            out.append(f'<polyline points="{path}" fill="none" '
                       f'stroke="{colour[resource]}" stroke-width="1.5"{dash}/>')
            ly = y0 + 30 + n * 16
            out.append(f'<line x1="{left + plot_w + 10}" y1="{ly}" '
                       f'x2="{left + plot_w + 30}" y2="{ly}" '
                       f'stroke="{colour[resource]}" stroke-width="3"{dash}/>')
            out.append(f'<text x="{left + plot_w + 35}" y="{ly + 4}">'
                       f"{escape(resource)}</text>")
        if peak > y_max:
            out.append(f'<text x="{left + plot_w - 4}" y="{y0 + 31}" '
                       f'text-anchor="end" fill="#777777">clipped at {y_max:g}'
                       f" (peak {peak:.1f})</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def latency_markdown(latency):
    rows = latency.get("rows", [])
    lines = [
        "",
        "## Tail latency: single allocations and frees",
        "",
        "| resource | op | p50 ns | p99 ns | p99.9 ns | max ns | p99.9/p50 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio_text = f"{r['p999'] / r['p50']:.1f}" if r["p50"] > 0 else "—"
        lines.append(
            f"| {r['resource']} | {r['op']} | {r['p50']:.1f} | {r['p99']:.1f} |"
            f" {r['p999']:.1f} | {r['max']:.1f} | {ratio_text} |")
    lines += [
        "",
        "{} samples per row on {}, each resource in a process of its own:"
        " each deallocate and each allocate timed on"
        " its own with {}, {:.4f} ns per tick (calibrated against"
        " steady_clock). Times include the timer's own cost, the first row"
        " (an empty pair); subtract its p50 for the operation alone. The"
        " max is one sample and mostly shows the machine (page faults,"
        " preemption).".format(
            latency.get("samples"), latency.get("workload", "?"),
            latency.get("timer", "?"), float(latency.get("ns_per_tick", 0))),
    ]
    return "\n".join(lines) + "\n"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?",
                        help="JSON written by --benchmark_out")
    parser.add_argument("--markdown", help="write the table here too")
    parser.add_argument("--svg", help="write the chart here")
    parser.add_argument("--phase-summary",
                        help="summary JSON of strata_phase_shift")
    parser.add_argument("--phase-csv", help="samples CSV of strata_phase_shift")
    parser.add_argument("--phase-svg", help="write the phase-shift chart here")
    parser.add_argument("--latency",
                        help="JSON of strata_phase_shift --latency")
    args = parser.parse_args(argv)
    if not (args.results or args.phase_summary or args.latency):
        parser.error("nothing to report: give results.json, --phase-summary"
                     " or --latency")

    table = ""
    if args.results:
        print(f"report: reading {args.results}", flush=True)
        groups, peers = load_rows(args.results)
        if not groups:
            print("report: no benchmark results found", file=sys.stderr)
            return 1
        table = markdown(groups, peers)
        if args.svg:
            with open(args.svg, "w", encoding="utf-8") as f:
                f.write(svg(groups))
            print(f"report: chart written to {args.svg}", flush=True)
    if args.phase_summary:
        print(f"report: reading {args.phase_summary}", flush=True)
        summary, samples = load_phase(args.phase_summary, args.phase_csv)
        svg_name = None
        if args.phase_svg and samples:
            with open(args.phase_svg, "w", encoding="utf-8") as f:
                f.write(phase_svg(summary, samples))
            print(f"report: chart written to {args.phase_svg}", flush=True)
            base = os.path.dirname(os.path.abspath(args.markdown or "."))
            svg_name = os.path.relpath(os.path.abspath(args.phase_svg), base)
        table += phase_markdown(summary, svg_name)
    if args.latency:
        print(f"report: reading {args.latency}", flush=True)
        with open(args.latency, encoding="utf-8") as f:
            table += latency_markdown(json.load(f))
    print(table, flush=True)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write("# strata benchmark report\n\n" + table)
        print(f"report: table written to {args.markdown}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
