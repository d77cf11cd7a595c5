#!/usr/bin/env python3
"""What the console costs a proxied request: instructions per chat completion with the console turned off
(`general_settings.disable_admin_ui: true`), on, and on with operators logged in who loaded every page before the
requests. The issue asks that the console add nothing to the request path; the counts say whether it does.

    python3 bench/console_callgrind.py [--requests 1000] [--runs 1]

Needs the release binaries (`swift build -c release --static-swift-stdlib --product switchyard` and
`--product switchyard-load`). One proxy config per case, with a master key and a SQLite database (request log on),
all else equal; a fresh database for each count. Callgrind counts N and 2N requests; the difference over N is the
cost of one. Prints JSON. Changes no file of the repository.
"""
import json
import os
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

MASTER = "sk-bench-console-master"
PAGES = ["/ui", "/ui/models", "/ui/keys", "/ui/spend", "/ui/spend?group_by=day", "/ui/logs", "/ui/config"]


def config(mock_port, name, general):
    return run.callgrind_config(mock_port, f"console-{name}", [f"master_key: {MASTER}"] + general)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *arguments):
        return None


def operators_look(url, operators=20):
    """`operators` log-ins, each loading every page once."""
    opener = urllib.request.build_opener(NoRedirect)
    for _ in range(operators):
        login = urllib.request.Request(url + "/ui/login", data=urllib.parse.urlencode({"key": MASTER}).encode())
        try:
            opener.open(login, timeout=60)
            raise RuntimeError("the log-in did not redirect")
        except urllib.error.HTTPError as answer:
            if answer.code != 303:
                raise
            cookie = answer.headers["set-cookie"].split(";")[0]
        for page in PAGES:
            with opener.open(urllib.request.Request(url + page, headers={"cookie": cookie}), timeout=60) as answer:
                if answer.status != 200:
                    raise RuntimeError(f"{page}: {answer.status}")


CASES = {
    "console off (disable_admin_ui: true)": dict(general=["disable_admin_ui: true"]),
    "console on": dict(general=[]),
    "console on, 20 operators logged in who loaded every page": dict(general=[], before_load=operators_look),
}


def main():
    args = run.callgrind_arguments()
    port = run.free_port()
    mock = run.start_mock(port)
    results = {}
    try:
        for index, (name, case) in enumerate(CASES.items()):
            # A database of its own for each count, so the pages loaded first read the same (empty) log each time.
            results[name] = run.callgrind_per_request(name, args.requests, args.runs, lambda n, attempt: run.callgrind_total(
                port, n, config=config(port, f"{index}-{attempt}-{n}", case["general"]), model="grok", key=MASTER,
                before_load=case.get("before_load")))
    finally:
        mock.stop()
    off = results["console off (disable_admin_ui: true)"]
    print(json.dumps({"requests": args.requests, "instructions_per_request": results,
                      "vs_console_off_percent": {name: round(100 * (value / off - 1), 2)
                                                 for name, value in results.items()}}, indent=2))


if __name__ == "__main__":
    main()
