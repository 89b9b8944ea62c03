#!/usr/bin/env python3
"""Turns strata_bench's JSON into a markdown table and an SVG bar chart.

Each row is one resource on one workload: time per item (the median of the
repetitions when there are any), the ratio against the resource's standard peer
and against new_delete_resource (how many times faster: above 1 is better),
and, where measured, the bytes held upstream per byte live.

Usage: report.py results.json [--markdown out.md] [--svg out.svg]
"""

import argparse
import json
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


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="JSON written by --benchmark_out")
    parser.add_argument("--markdown", help="write the table here too")
    parser.add_argument("--svg", help="write the chart here")
    args = parser.parse_args(argv)

    print(f"report: reading {args.results}", flush=True)
    groups, peers = load_rows(args.results)
    if not groups:
        print("report: no benchmark results found", file=sys.stderr)
        return 1
    table = markdown(groups, peers)
    print(table, flush=True)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write("# strata benchmark report\n\n" + table)
        print(f"report: table written to {args.markdown}", flush=True)
    if args.svg:
        with open(args.svg, "w", encoding="utf-8") as f:
            f.write(svg(groups))
        print(f"report: chart written to {args.svg}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
