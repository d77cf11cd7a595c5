#!/usr/bin/env python3
"""Medians of several benchmark runs: the headline figures of each raw result file, side by side, and their median.

    python3 bench/medians.py bench/results/raw/A.json bench/results/raw/B.json ... [--write]

With --write, the table replaces the section between `<!-- medians:begin -->` and `<!-- medians:end -->` in
docs/benchmarks.md (added before the generated run section when missing). bench/run.sh --repeat N runs the
harness N times and then this over the N new raw files.
"""
import argparse
import json
import os
import statistics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "benchmarks.md")


def dig(results, *path):
    value = results
    for step in path:
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and isinstance(step, int) and -len(value) <= step < len(value):
            value = value[step]
        else:
            return None
    return value if isinstance(value, (int, float)) else None


def stream_point(results, target, streams, field):
    for point in (results.get("c") or {}).get("points", {}).get(target, []):
        if point.get("streams") == streams:
            value = point.get(field)
            return value if isinstance(value, (int, float)) else None
    return None


def added_stream(results, streams, field):
    proxy = stream_point(results, "switchyard", streams, field)
    direct = stream_point(results, "direct", streams, field)
    return proxy - direct if proxy is not None and direct is not None else None


def ratio(results, numerator, denominator):
    top = dig(results, "shared", numerator, "rps")
    bottom = dig(results, "shared", denominator, "rps")
    return round(top / bottom, 1) if top and bottom else None


# (label, target, how to read it from one run's results)
FIGURES = [
    ("added p50 at c=1, pinned (us)", "<= 60", lambda r: dig(r, "a", "summary", "switchyard", "added_p50_us")),
    ("added p99 at c=1, pinned (us)", "<= 100", lambda r: dig(r, "a", "summary", "switchyard", "added_p99_us")),
    ("instructions per request (callgrind, N vs 2N requests)", "", lambda r: dig(r, "callgrind", "instructions_per_request")),
    ("instructions per request (callgrind, start-up included)", "", lambda r: dig(r, "callgrind", "total_instructions")
     and dig(r, "callgrind", "total_instructions") // dig(r, "callgrind", "requests")),
    ("instructions per relayed SSE event (callgrind)", "", lambda r: dig(r, "callgrind", "instructions_per_sse_event")),
    ("nginx added p50 at c=1 (us)", "floor", lambda r: dig(r, "a", "summary", "nginx", "added_p50_us")),
    ("CPU per request at c=1 (us)", "<= 80", lambda r: dig(r, "a", "summary", "switchyard", "cpu_us_per_request")),
    ("shared c=10: Switchyard rps", ">= 6,000", lambda r: dig(r, "shared", "switchyard", "rps")),
    ("shared c=10: Switchyard p99 (us)", "<= 3,000", lambda r: dig(r, "shared", "switchyard", "p99_us")),
    ("shared c=10: direct rps", "", lambda r: dig(r, "shared", "direct", "rps")),
    ("shared c=10: nginx rps", "", lambda r: dig(r, "shared", "nginx", "rps")),
    ("shared c=10: Switchyard / LiteLLM", ">= 100x", lambda r: ratio(r, "switchyard", "litellm")),
    ("shared c=10: CPU per request (us)", "", lambda r: dig(r, "shared", "switchyard", "cpu_us_per_request")),
    ("streams at c=1: added TTFC p50 (us)", "", lambda r: dig(r, "a_stream", "summary", "switchyard", "added_p50_us")),
    ("streams at c=1: added TTFC p99 (us)", "<= 200", lambda r: dig(r, "a_stream", "summary", "switchyard", "added_p99_us")),
    ("1 stream of (c): added TTFC (us, one sample)", "", lambda r: added_stream(r, 1, "ttfc_p99_us")),
    ("1 stream: added gap p99 (us)", "<= 10", lambda r: added_stream(r, 1, "gap_p99_us")),
    ("64 streams: stall-free", "64", lambda r: stream_point(r, "switchyard", 64, "stall_free")),
    ("256 streams: stall-free", "256", lambda r: stream_point(r, "switchyard", 256, "stall_free")),
    ("256 streams: CPU per frame (us)", "", lambda r: stream_point(r, "switchyard", 256, "cpu_us_per_frame")),
    ("256 streams: nginx CPU per frame (us)", "floor", lambda r: stream_point(r, "nginx", 256, "cpu_us_per_frame")),
    ("1,000 in flight, 1 s upstream: added p99 (us)", "", lambda r: dig(r, "d", "added_p99_us")),
    ("idle RSS (kB)", "<= 30,720", lambda r: dig(r, "d", "idle_rss_kb")),
    ("peak RSS, 1,000 in flight (kB)", "<= 102,400", lambda r: dig(r, "d", "peak_rss_kb")),
    ("soak RSS growth (kB)", "0", lambda r: dig(r, "f", "growth_after_first_chunk_kb")),
    ("500 KB prompt: added p50 (us)", "", lambda r: dig(r, "e", -1, "added_p50_us")),
    ("cold start to first 200 (ms)", "<= 100", lambda r: dig(r, "h", "median_ms")),
]


def number(value):
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def render(paths):
    runs = [json.load(open(path)) for path in paths]
    names = [os.path.basename(path).removesuffix(".json") for path in paths]
    lines = [
        f"Medians of {len(runs)} runs ({', '.join(r['meta'].get('date', '?') + (' quick' if r['meta'].get('quick') else '') for r in runs)}); "
        "raw files in bench/results/raw/.",
        "",
        "| figure | target | " + " | ".join(names) + " | median |",
        "|---|---|" + "---|" * len(names) + "---|",
    ]
    for label, target, read in FIGURES:
        values = [read(run) for run in runs]
        present = [value for value in values if value is not None]
        median = statistics.median(present) if present else None
        lines.append(f"| {label} | {target} | " + " | ".join(number(v) for v in values) + f" | **{number(median)}** |")
    return "\n".join(lines) + "\n"


def write(table):
    text = open(DOC).read()
    begin, end = "<!-- medians:begin -->", "<!-- medians:end -->"
    block = f"{begin}\n{table}{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        marker = "## Latest run (generated by bench/run.py)"
        section = f"## Medians of several runs (generated by bench/medians.py)\n\n{block}\n\n"
        text = text.replace(marker, section + marker) if marker in text else text.rstrip() + "\n\n" + section
    open(DOC, "w").write(text)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+")
    parser.add_argument("--write", action="store_true", help="replace the medians section of docs/benchmarks.md")
    args = parser.parse_args()
    table = render(args.files)
    print(table)
    if args.write:
        write(table)


if __name__ == "__main__":
    main()
