#!/usr/bin/env python3
"""Instructions per request through a feature endpoint (run-time configuration) against the plain alias it uses:
the issue's budget is at most 10% more. On one proxy with a SQLite database (the request log on, the same for
each): the alias `grok`, the feature `summary_defaults` (its defaults only), the feature `summary` (defaults and a
prompt with a system prompt and a user template filled from `prompt_variables`), and the alias sent what each
feature sends upstream (so the feature's own cost is told apart from the cost of the bigger request it makes).

    python3 bench/runtime_callgrind.py [--requests 1000] [--runs 1]

Needs the release binaries (`swift build -c release --static-swift-stdlib --product switchyard` and
`--product switchyard-load`). The features are written with `switchyard runtime` before the proxy starts; the
proxy reads them at start-up, so no request reads the database for them. Prints JSON. Changes no file of the
repository.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def config(mock_port):
    return run.callgrind_config(mock_port, "runtime")


def runtime(path, route, body):
    result = subprocess.run([run.SWITCHYARD, "runtime", route, "--config", path, "--json", "--data", json.dumps(body)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"switchyard runtime {route}: {result.stderr}")


DEFAULTS = {"temperature": 0.2, "max_tokens": 256}
# The load client's own message (its --prompt-bytes 150 default), to build the request a client would send to the
# alias itself to get the same upstream request as through the feature.
WORDS = "Summarize the trade-offs of proxies for language model APIs in plain words. "
PROMPT = (WORDS * 3)[:150]
SAME_AS_PROMPT = dict(DEFAULTS, messages=[
    {"role": "system", "content": "You summarise the bench in one line."},
    {"role": "user", "content": "Topic: the bench"},
    {"role": "user", "content": PROMPT}])

CASES = {
    "alias": dict(model="grok"),
    "feature (defaults)": dict(model="summary_defaults"),
    "feature (defaults and prompt)": dict(model="summary", extra=json.dumps({"prompt_variables": {"topic": "the bench"}})),
    # What the features send upstream, sent to the alias by the client itself.
    "alias, with the defaults in the request": dict(model="grok", extra=json.dumps(DEFAULTS)),
    "alias, with the prompt's messages in the request": dict(model="grok", extra=json.dumps(SAME_AS_PROMPT)),
}


def main():
    args = run.callgrind_arguments()
    port = run.free_port()
    mock = run.start_mock(port)
    results = {}
    try:
        path = config(port)
        runtime(path, "/feature/new", {"slug": "summary_defaults", "model": "grok", "defaults": DEFAULTS})
        runtime(path, "/feature/new", {"slug": "summary", "model": "grok", "defaults": DEFAULTS})
        runtime(path, "/prompt/new", {"slug": "summary", "system": "You summarise {{topic}} in one line.",
                                      "user": "Topic: {{topic}}"})
        for name, options in CASES.items():
            results[name] = run.callgrind_per_request(
                name, args.requests, args.runs, lambda n, _: run.callgrind_total(port, n, config=path, **options))
    finally:
        mock.stop()
    alias = results["alias"]
    same = {"feature (defaults)": results["alias, with the defaults in the request"],
            "feature (defaults and prompt)": results["alias, with the prompt's messages in the request"]}
    print(json.dumps({"requests": args.requests, "instructions_per_request": results,
                      "vs_alias_percent": {name: round(100 * (value / alias - 1), 1) for name, value in results.items()},
                      "vs_the_same_upstream_request_percent": {
                          name: round(100 * (results[name] / value - 1), 1) for name, value in same.items()}},
                     indent=2))


if __name__ == "__main__":
    main()
