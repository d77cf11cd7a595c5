#!/usr/bin/env python3
"""Instructions per proxied request (and per relayed SSE event) of two builds, measured alternately on one mock.

    python3 bench/callgrind_compare.py --base /path/to/checkout-at-base --head . [--runs 3] [--requests 1000]

Each checkout must have its release binaries built (`swift build -c release --static-swift-stdlib --product
switchyard` and `--product switchyard-load`). Uses bench/run.py's callgrind method (N vs 2N requests, so start-up
and shutdown cancel out) from each checkout, alternating base and head so drift on a shared machine hits both
alike, and prints each run and the medians as JSON. Changes no file.
"""
import argparse
import importlib.util
import json
import os
import statistics
import sys


def harness(root, name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(root, "bench", "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--head", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--streams", action="store_true", help="also instructions per SSE event")
    args = parser.parse_args()
    builds = {"base": harness(os.path.abspath(args.base), "base_run"),
              "head": harness(os.path.abspath(args.head), "head_run")}
    head = builds["head"]
    port = head.free_port()
    mock = head.start_mock(port)
    runs = {name: [] for name in builds}
    events = {name: [] for name in builds}
    try:
        for run in range(args.runs):
            for name, module in builds.items():
                once = module.callgrind_total(port, args.requests)
                twice = module.callgrind_total(port, 2 * args.requests)
                runs[name].append((twice - once) // args.requests)
                print(f"run {run + 1} {name}: {runs[name][-1]:,} instructions per request", file=sys.stderr)
                if args.streams:
                    events[name].append(module.callgrind_stream(args.requests // 5)["instructions_per_sse_event"])
    finally:
        mock.stop()
    result = {"requests": args.requests, "runs": runs,
              "median": {name: int(statistics.median(values)) for name, values in runs.items()}}
    result["change_percent"] = round(100 * (result["median"]["head"] / result["median"]["base"] - 1), 2)
    if args.streams:
        result["sse_event_runs"] = events
        result["sse_event_median"] = {name: int(statistics.median(values)) for name, values in events.items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
