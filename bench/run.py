#!/usr/bin/env python3
"""Switchyard's benchmark harness: the proxy's cost against the direct path, LiteLLM and nginx, in one run.

Run through bench/run.sh, which installs the tools and builds the release binaries. Everything listens on
127.0.0.1; every load is bounded in count and time. Results: bench/results/latest.json (and a dated copy
under bench/results/raw/), and the generated section of docs/benchmarks.md.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, ".build", "release")
SWITCHYARD = os.path.join(RELEASE, "switchyard")
LOAD = os.path.join(RELEASE, "switchyard-load")
LITELLM = os.path.join(ROOT, "bench", ".venv", "bin", "litellm")
RESULTS = os.path.join(ROOT, "bench", "results")
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
TICKS = os.sysconf("SC_CLK_TCK")
KEY = "xai-bench-fake-key"
WORK = tempfile.mkdtemp(prefix="switchyard-bench-")


def log(*parts):
    print("[bench]", *parts, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url, seconds=60, ok=(200,)):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status in ok:
                    return True
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


class CPUTime:
    """A process tree's CPU time at one moment; the difference of two is in seconds. The scheduler's run time
    counts only threads alive when it is read, so a thread that ended in between (its time stays in the tick
    count, which includes ended threads) would lower it: when the precise difference falls short of the tick
    difference by more than two ticks, the tick difference is what it reports."""

    def __init__(self, nanoseconds, ticks):
        self.nanoseconds = nanoseconds
        self.ticks = ticks

    def __sub__(self, earlier):
        coarse = (self.ticks - earlier.ticks) / TICKS
        if self.nanoseconds == 0 and earlier.nanoseconds == 0:
            return coarse
        precise = (self.nanoseconds - earlier.nanoseconds) / 1e9
        return coarse if precise < coarse - 2 / TICKS else precise


class Target:
    """A process tree we started (its own session), with CPU and memory read from /proc."""

    def __init__(self, name, argv, env=None, cpus=None, ready_url=None, log_name=None):
        self.name = name
        if cpus is not None:
            argv = ["taskset", "-c", cpus] + argv
        self.log_path = os.path.join(WORK, (log_name or name) + ".log")
        environment = dict(os.environ)
        environment.update(env or {})
        self.process = subprocess.Popen(
            argv, stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
        if ready_url:
            wait_http(ready_url)

    def pids(self):
        group = os.getpgid(self.process.pid)
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getpgid(int(entry)) == group:
                        found.append(int(entry))
                except (ProcessLookupError, PermissionError):
                    pass
        return found

    def pause(self):
        """Stops the whole tree (SIGSTOP): on a pinned core, a target that is only waiting (LiteLLM's workers keep
        waking up) takes no time from the one being measured."""
        os.killpg(os.getpgid(self.process.pid), signal.SIGSTOP)

    def resume(self):
        os.killpg(os.getpgid(self.process.pid), signal.SIGCONT)

    def cpu_seconds(self):
        """The tree's CPU time so far (`CPUTime`): to the nanosecond from the scheduler's per-thread run time
        (`/proc/PID/task/TID/schedstat`), and in clock ticks (`/proc/PID/stat`, 10 ms) as a check. A request at
        c=1 costs ~0.2 ms, so a round of 1,000 is ~20 ticks and one tick is 5% of it: the tick count alone
        cannot tell a 5% difference."""
        ticks = 0
        nanoseconds = 0
        for pid in self.pids():
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
            except (FileNotFoundError, IndexError):
                continue
            try:
                tasks = os.listdir(f"/proc/{pid}/task")
            except FileNotFoundError:
                continue
            for tid in tasks:
                try:
                    nanoseconds += int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0])
                except (FileNotFoundError, IndexError, ValueError):
                    pass
        return CPUTime(nanoseconds, ticks)

    def memory_kb(self, field="VmRSS"):
        total = 0
        for pid in self.pids():
            try:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                pass
        return total

    def stop(self):
        try:
            os.killpg(os.getpgid(self.process.pid), signal.SIGTERM)
            self.process.wait(timeout=20)
        except Exception:
            try:
                os.killpg(os.getpgid(self.process.pid), signal.SIGKILL)
            except Exception:
                pass


def start_mock(port, cpus=None, latency_ms=0, chunks=8, interval_ms=0, name="mock"):
    argv = [SWITCHYARD, "mock", "--port", str(port), "--no-record", "--chunks", str(chunks)]
    argv += ["--latency-ms", str(latency_ms), "--chunk-interval-ms", str(interval_ms)]
    return Target(name, argv, cpus=cpus, ready_url=f"http://127.0.0.1:{port}/v1/models")


def switchyard_config(mock_port, aliases=1, general=None):
    lines = ["model_list:"]
    for index in range(aliases):
        name = "grok-code-fast-1" if index == 0 else f"bench-{index}"
        lines += [
            f"  - model_name: {name}",
            "    litellm_params:",
            "      model: xai/grok-code-fast-1",
            f"      api_base: http://127.0.0.1:{mock_port}/v1",
            f"      api_key: {KEY}",
            "    model_info: {input_cost_per_token: 0.0000002, output_cost_per_token: 0.0000015}",
        ]
    if aliases > 1:
        lines += ["  - model_name: bench-last", "    litellm_params:", "      model: xai/grok-code-fast-1",
                  f"      api_base: http://127.0.0.1:{mock_port}/v1", f"      api_key: {KEY}"]
    lines += ["litellm_settings:", "  drop_params: true"]
    if general:
        lines += ["general_settings:"] + [f"  {line}" for line in general]
    suffix = "-".join(line.split(":")[0] for line in general or [])
    path = os.path.join(WORK, f"switchyard-{mock_port}-{aliases}{'-' + suffix if suffix else ''}.yaml")
    open(path, "w").write("\n".join(lines) + "\n")
    return path


def start_switchyard(mock_port, cpus=None, aliases=1, name="switchyard", general=None):
    # Fair settings, as for LiteLLM: no database (the request log and keys are measured on their own, in the
    # storage scenario).
    port = free_port()
    config = switchyard_config(mock_port, aliases, general if general is not None else ["database_url: none"])
    argv = [SWITCHYARD, "serve", "--config", config, "--port", str(port), "--log-level", "warning"]
    target = Target(name, argv, cpus=cpus, ready_url=f"http://127.0.0.1:{port}/health/readiness")
    target.url = f"http://127.0.0.1:{port}/v1/chat/completions"
    return target


def start_litellm(mock_port, cpus=None):
    port = free_port()
    config = os.path.join(WORK, f"litellm-{mock_port}.yaml")
    open(config, "w").write(
        "model_list:\n"
        "  - model_name: grok-code-fast-1\n"
        "    litellm_params:\n"
        "      model: openai/grok-code-fast-1\n"
        f"      api_base: http://127.0.0.1:{mock_port}/v1\n"
        f"      api_key: {KEY}\n"
        "litellm_settings:\n"
        "  drop_params: true\n"
        "  num_retries: 0\n"
        "  request_timeout: 600\n"
        "  telemetry: false\n"
        "router_settings:\n"
        "  num_retries: 0\n"
    )
    workers = str(os.cpu_count() or 2)
    argv = [LITELLM, "--config", config, "--port", str(port), "--host", "127.0.0.1", "--num_workers", workers]
    env = {"LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False", "DISABLE_SCHEMA_UPDATE": "true"}
    target = Target("litellm", argv, env=env, cpus=cpus)
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", seconds=300)
    target.url = f"http://127.0.0.1:{port}/v1/chat/completions"
    return target


def start_nginx(mock_port, cpus=None):
    port = free_port()
    prefix = os.path.join(WORK, f"nginx-{port}")
    os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    open(conf, "w").write(
        f"""worker_processes {os.cpu_count() or 2};
error_log {prefix}/logs/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
  upstream mock {{ server 127.0.0.1:{mock_port}; keepalive 256; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    client_max_body_size 10m;
    location / {{
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 600s;
    }}
  }}
}}
"""
    )
    target = Target("nginx", ["nginx", "-p", prefix, "-c", conf, "-g", "daemon off;"], cpus=cpus)
    target.url = f"http://127.0.0.1:{port}/v1/chat/completions"
    wait_http(f"http://127.0.0.1:{port}/v1/models")
    return target


def load(url, cpus=None, **options):
    argv = [LOAD, "--url", url]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not False and value is not None:  # 0 is a value (`0 in (False, None)` is true in Python)
            argv += [flag, str(value)]
    if cpus is not None:
        argv = ["taskset", "-c", cpus] + argv
    if "--key" not in argv:
        argv += ["--key", KEY]
    output = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if output.returncode != 0:
        raise RuntimeError(f"load client failed: {output.stderr[-2000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def measured(target, url, cpus=None, **options):
    """One load run with the target's CPU time and memory around it."""
    cpu_before = target.cpu_seconds() if target else None
    result = load(url, cpus=cpus, **options)
    if target:
        result["target_cpu_s"] = round(target.cpu_seconds() - cpu_before, 6)
        result["target_rss_kb"] = target.memory_kb("VmRSS")
        result["target_peak_rss_kb"] = target.memory_kb("VmHWM")
        ok = max(result.get("ok", 0), 1)
        result["cpu_us_per_request"] = round(result["target_cpu_s"] * 1e6 / ok, 1)
    return result


def p(result, metric, percentile):
    block = result.get(metric) or {}
    return block.get(percentile)


# ----------------------------------------------------------------------------------------------------------
# Scenarios


def measured_alone(targets, target, url, **options):
    """`measured`, with every other target of the pinned core paused meanwhile."""
    for other in targets:
        if other is not target:
            other.pause()
    try:
        return measured(target, url, **options)
    finally:
        for other in targets:
            if other is not target:
                other.resume()


def scenario_a(targets, direct_url, rounds, requests, pinned_load, stream=False):
    """c=1 sequential, interleaved rounds: added latency p50/p99; with `stream`, each request a stream (usage
    asked for) timed to its first content delta."""
    log("scenario a: c=1 interleaved" + (", streams" if stream else ""))
    metric = "ttfc_us" if stream else "latency_us"
    options = {"stream": True, "include_usage": True} if stream else {}
    per_round = {name: [] for name in ["direct"] + [t.name for t in targets]}
    for round_index in range(rounds):
        order = [("direct", None, direct_url)] + [(t.name, t, t.url) for t in targets]
        if round_index % 2:
            order = order[:1] + order[1:][::-1]
        for name, target, url in order:
            count = requests if name not in ("litellm",) else max(100, requests // 5)
            per_round[name].append(
                measured_alone(targets, target, url, cpus=pinned_load, requests=count, warmup=50, concurrency=1, **options))
    summary = {}
    for name, runs in per_round.items():
        summary[name] = {
            "p50_us": statistics.median(p(r, metric, "p50") for r in runs),
            "p99_us": statistics.median(p(r, metric, "p99") for r in runs),
            "cpu_us_per_request": statistics.median(r.get("cpu_us_per_request", 0) for r in runs) if name != "direct" else None,
            "rounds": len(runs),
        }
    for name in summary:
        if name != "direct":
            for percentile in ("p50", "p99"):
                summary[name][f"added_{percentile}_us"] = paired_median(
                    per_round[name], per_round["direct"], lambda mine, theirs: p(mine, metric, percentile) - p(theirs, metric, percentile))
    return {"summary": summary, "raw": per_round}


def paired_median(runs, baseline_runs, difference):
    """The median over rounds of `difference(run, baseline run)` of the same round. Interleaved rounds run each
    target close in time to the others, and the machine drifts over a scenario (a round's CPU per request moved
    from 141 to 211 us on one build in one storage run): a difference taken within each round cancels the drift
    that a difference of the two medians keeps."""
    values = [difference(mine, theirs) for mine, theirs in zip(runs, baseline_runs)
              if mine is not None and theirs is not None]
    return statistics.median(values) if values else None


def scenario_a_stream(rounds, streams, use_litellm):
    """Streams at c=1, pinned as (a), interleaved rounds: the added time to first token over a thousand streams
    (where (c) has one stream at its lowest level, so one sample). The mock sends its frames 1 ms apart, so each
    frame arrives on its own as from a real upstream (back to back, frames coalesce in the sockets, and a mock and
    a load client sharing a core take turns frame by frame, which times the scheduler, not the proxy)."""
    mock_port = free_port()
    mock = start_mock(mock_port, cpus="1", chunks=2, interval_ms=1, name="mock-paced")
    targets = [start_switchyard(mock_port, cpus="0"), start_nginx(mock_port, cpus="0")]
    if use_litellm:
        targets.append(start_litellm(mock_port, cpus="0"))
    try:
        return scenario_a(targets, f"http://127.0.0.1:{mock_port}/v1/chat/completions", rounds, streams,
                          pinned_load="1", stream=True)
    finally:
        for target in targets:
            target.stop()
        mock.stop()


def scenario_b(targets, direct_url, levels, pinned_load):
    """Concurrency sweep: throughput frontier (max rps with p99 under 1, 5, 10 ms)."""
    log("scenario b: concurrency sweep", levels)
    rows = {name: [] for name in ["direct"] + [t.name for t in targets]}
    for level in levels:
        for name, target, url in [("direct", None, direct_url)] + [(t.name, t, t.url) for t in targets]:
            count = max(2000, level * 40) if name != "litellm" else max(200, level * 10)
            result = measured_alone(targets, target, url, cpus=pinned_load, requests=count, warmup=min(200, count // 10),
                                    concurrency=level)
            rows[name].append({"concurrency": level, "rps": result["rps"], "p50_us": p(result, "latency_us", "p50"),
                               "p99_us": p(result, "latency_us", "p99"), "errors": result["errors"],
                               "cpu_us_per_request": result.get("cpu_us_per_request")})
    frontier = {}
    for name, points in rows.items():
        frontier[name] = {}
        for limit_ms in (1, 5, 10):
            good = [pt["rps"] for pt in points if pt["p99_us"] is not None and pt["p99_us"] <= limit_ms * 1000 and pt["errors"] == 0]
            frontier[name][f"max_rps_p99_under_{limit_ms}ms"] = max(good) if good else None
    return {"points": rows, "frontier": frontier}


def scenario_shared(targets, direct_url, requests):
    """Shared 2-core box, everything unpinned, c=10."""
    log("shared topology: c=10")
    rows = {}
    for name, target, url in [("direct", None, direct_url)] + [(t.name, t, t.url) for t in targets]:
        count = requests if name != "litellm" else max(300, requests // 20)
        result = measured(target, url, requests=count, warmup=200, concurrency=10)
        rows[name] = {"rps": result["rps"], "p50_us": p(result, "latency_us", "p50"), "p99_us": p(result, "latency_us", "p99"),
                      "errors": result["errors"], "cpu_us_per_request": result.get("cpu_us_per_request")}
    return rows


def scenario_c(make_targets, streams_levels, quick):
    """SSE: 64 deltas 20 ms apart, 1 to 1,024 concurrent streams."""
    log("scenario c: SSE", streams_levels)
    mock_port = free_port()
    mock = start_mock(mock_port, chunks=64, interval_ms=20, name="mock-sse")
    targets = make_targets(mock_port)
    direct_url = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
    rows = {name: [] for name in ["direct"] + [t.name for t in targets]}
    try:
        for streams in streams_levels:
            for name, target, url in [("direct", None, direct_url)] + [(t.name, t, t.url) for t in targets]:
                if name == "litellm" and streams > 256:
                    continue
                result = measured(target, url, requests=streams, warmup=min(streams, 16), concurrency=streams,
                                  stream=True, include_usage=True, expected_interval_ms=20)
                frames = (result.get("frames_per_stream") or {}).get("mean", 0) * result["ok"]
                rows[name].append({
                    "streams": streams, "ok": result["ok"], "errors": result["errors"],
                    "ttfb_p50_us": p(result, "ttfb_us", "p50"), "ttfc_p50_us": p(result, "ttfc_us", "p50"),
                    "ttfc_p99_us": p(result, "ttfc_us", "p99"), "gap_p50_us": p(result, "gap_us", "p50"),
                    "gap_p99_us": p(result, "gap_us", "p99"), "stall_free": result.get("stall_free_streams"),
                    "frames": frames,
                    "cpu_us_per_frame": round(result["target_cpu_s"] * 1e6 / frames, 2) if target and frames else None,
                    "peak_rss_kb": result.get("target_peak_rss_kb"),
                })
    finally:
        for target in targets:
            target.stop()
        mock.stop()
    added = {}
    for name, points in rows.items():
        if name == "direct":
            continue
        added[name] = []
        for point in points:
            base = next((d for d in rows["direct"] if d["streams"] == point["streams"]), None)
            if base and point["ttfc_p99_us"] is not None and base["ttfc_p99_us"] is not None:
                added[name].append({
                    "streams": point["streams"],
                    "added_ttfc_p50_us": point["ttfc_p50_us"] - base["ttfc_p50_us"],
                    "added_ttfc_p99_us": point["ttfc_p99_us"] - base["ttfc_p99_us"],
                    "added_gap_p99_us": point["gap_p99_us"] - base["gap_p99_us"],
                    "stall_free": point["stall_free"], "streams_ok": point["ok"],
                })
    return {"points": rows, "added": added}


def scenario_d(seconds):
    """1 s upstream latency with 1,000 requests in flight: added p99, errors, peak RSS."""
    log("scenario d: 1 s upstream, 1,000 in flight")
    mock_port = free_port()
    mock = start_mock(mock_port, latency_ms=1000, name="mock-slow")
    proxy = start_switchyard(mock_port, name="switchyard-slow")
    idle_rss = proxy.memory_kb()
    try:
        direct = load(f"http://127.0.0.1:{mock_port}/v1/chat/completions", rate=1000, requests=1000 * seconds,
                      concurrency=4000, warmup=0)
        result = measured(proxy, proxy.url, rate=1000, requests=1000 * seconds, concurrency=4000, warmup=0)
    finally:
        proxy.stop()
        mock.stop()
    return {"direct_p99_us": p(direct, "latency_us", "p99"), "proxy_p99_us": p(result, "latency_us", "p99"),
            "added_p99_us": p(result, "latency_us", "p99") - p(direct, "latency_us", "p99"),
            "errors": result["errors"], "requests": result["requests"], "idle_rss_kb": idle_rss,
            "peak_rss_kb": result["target_peak_rss_kb"]}


def scenario_e(proxy, direct_url, quick):
    """Prompts of 150 B, 4 KB, 500 KB: added latency."""
    log("scenario e: prompt sizes")
    rows = []
    for size, count in ((150, 1000), (4096, 1000), (500_000, 100)):
        count = count // 4 if quick else count
        direct = load(direct_url, prompt_bytes=size, requests=count, warmup=20)
        via = measured(proxy, proxy.url, prompt_bytes=size, requests=count, warmup=20)
        rows.append({"prompt_bytes": size, "direct_p50_us": p(direct, "latency_us", "p50"),
                     "proxy_p50_us": p(via, "latency_us", "p50"),
                     "added_p50_us": p(via, "latency_us", "p50") - p(direct, "latency_us", "p50"),
                     "added_p99_us": p(via, "latency_us", "p99") - p(direct, "latency_us", "p99")})
    return rows


def scenario_f(proxy, total, chunk):
    """Soak: RSS growth over many requests."""
    log("scenario f: soak", total)
    samples = [{"requests": 0, "rss_kb": proxy.memory_kb()}]
    done = 0
    errors = 0
    while done < total:
        result = load(proxy.url, requests=chunk, warmup=0, concurrency=16)
        done += chunk
        errors += result["errors"]
        samples.append({"requests": done, "rss_kb": proxy.memory_kb()})
    after_warm = samples[1]["rss_kb"]
    return {"requests": done, "errors": errors, "samples": samples,
            "growth_after_first_chunk_kb": samples[-1]["rss_kb"] - after_warm}


def scenario_g(mock_port, requests):
    """A config of 1,000 aliases: routing cost stays flat."""
    log("scenario g: 1,000 aliases")
    small = start_switchyard(mock_port, name="switchyard-1-alias")
    large = start_switchyard(mock_port, aliases=1000, name="switchyard-1000-aliases")
    try:
        one = load(small.url, requests=requests, warmup=100)
        first = load(large.url, requests=requests, warmup=100, model="grok-code-fast-1")
        last = load(large.url, requests=requests, warmup=100, model="bench-last")
    finally:
        small.stop()
        large.stop()
    return {"one_alias_p50_us": p(one, "latency_us", "p50"), "first_of_1000_p50_us": p(first, "latency_us", "p50"),
            "last_of_1000_p50_us": p(last, "latency_us", "p50"),
            "errors": one["errors"] + first["errors"] + last["errors"]}


MASTER = "sk-bench-master-key"


def scenario_storage(mock_port, rounds, requests):
    """Storage on (SQLite request log, spend, a virtual key with a budget, metrics) against the same build with
    storage off: c=1, interleaved rounds, proxy pinned to core 0."""
    log("scenario storage: on vs off")
    database = os.path.join(WORK, f"storage-{mock_port}.db")
    off = start_switchyard(mock_port, cpus="0", name="storage-off", general=["database_url: none"])
    on = start_switchyard(mock_port, cpus="0", name="storage-on",
                          general=[f"database_url: sqlite:{database}", f"master_key: {MASTER}"])
    try:
        base = on.url.rsplit("/v1/", 1)[0]
        request = urllib.request.Request(base + "/key/generate", method="POST",
                                         data=json.dumps({"max_budget": 1000000, "rpm_limit": 10000000}).encode(),
                                         headers={"Authorization": f"Bearer {MASTER}", "Content-Type": "application/json"})
        key = json.load(urllib.request.urlopen(request, timeout=10))["key"]
        runs = {"storage-off": [], "storage-on": []}
        for round_index in range(rounds):
            order = [("storage-off", off, None), ("storage-on", on, key)]
            if round_index % 2:
                order.reverse()
            for name, target, virtual_key in order:
                options = {"requests": requests, "warmup": 50, "concurrency": 1}
                if virtual_key:
                    options["key"] = virtual_key
                runs[name].append(measured(target, target.url, cpus="1", **options))
        rows = sqlite_rows(database)
    finally:
        off.stop()
        on.stop()
    summary = {}
    for name, results in runs.items():
        summary[name] = {
            "p50_us": statistics.median(p(r, "latency_us", "p50") for r in results),
            "p99_us": statistics.median(p(r, "latency_us", "p99") for r in results),
            "cpu_us_per_request": statistics.median(r.get("cpu_us_per_request", 0) for r in results),
        }
    added = paired_median(runs["storage-on"], runs["storage-off"],
                          lambda on, off: p(on, "latency_us", "p50") - p(off, "latency_us", "p50"))
    cpu = paired_median(runs["storage-on"], runs["storage-off"],
                        lambda on, off: on["cpu_us_per_request"] / max(off["cpu_us_per_request"], 1e-9) - 1)
    return {"summary": summary, "added_p50_us": added, "cpu_increase_pct": round(cpu * 100, 1),
            "rows_written": rows, "rounds": rounds, "requests_per_round": requests, "raw": runs}


def sqlite_rows(path):
    try:
        import sqlite3
        connection = sqlite3.connect(path)
        count = connection.execute("SELECT COUNT(*) FROM switchyard_request_log").fetchone()[0]
        connection.close()
        return count
    except Exception as error:  # the count is a sanity check, not the measurement
        return f"unknown ({error})"


def scenario_h(tries):
    """Cold start to the first 200."""
    log("scenario h: cold start")
    config = os.path.join(WORK, "cold.yaml")
    open(config, "w").write("model_list:\n  - model_name: m\n    litellm_params: {model: mock/echo}\n")
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    samples = []
    for _ in range(tries):
        port = free_port()
        start = time.perf_counter()
        process = subprocess.Popen([SWITCHYARD, "serve", "--config", config, "--port", str(port)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                                 headers={"content-type": "application/json"})
                with urllib.request.urlopen(request, timeout=1) as response:
                    if response.status == 200:
                        break
            except Exception:
                if time.perf_counter() - start > 30:
                    break
                time.sleep(0.002)
        samples.append((time.perf_counter() - start) * 1000)
        process.terminate()
        process.wait(timeout=10)
    return {"median_ms": round(statistics.median(samples), 1), "samples_ms": [round(s, 1) for s in samples]}


def callgrind_total(mock_port, requests, stream=False, config=None, path="/v1/chat/completions", before_load=None,
                    **load_options):
    """Instructions valgrind --tool=callgrind counts for start-up, `requests` proxied requests and shutdown; `config`,
    `path` and `load_options` choose another config, route and request shape (bench/surfaces_callgrind.py);
    `before_load` is called with the proxy's URL once it is ready, before the requests (bench/console_callgrind.py)."""
    binary = os.path.join(WORK, "switchyard-stripped")
    if not os.path.exists(binary):
        shutil.copy(SWITCHYARD, binary)
        subprocess.run(["strip", binary], check=False)  # valgrind 3.19 cannot read Swift's DWARF 5
    out = os.path.join(WORK, f"callgrind-{mock_port}-{requests}.out")
    port = free_port()
    config = config or switchyard_config(mock_port, general=["database_url: none"])
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "serve", "--config", config,
            "--port", str(port), "--log-level", "warning"]
    # Swift seeds its hashing per process, which moves dictionary and set probes (a few thousand instructions
    # per request from run to run); a fixed seed makes the count repeatable.
    target = Target(f"callgrind-{requests}", argv, env={"SWIFT_DETERMINISTIC_HASHING": "1"})
    try:
        wait_http(f"http://127.0.0.1:{port}/health/readiness", seconds=120)
        if before_load:
            before_load(f"http://127.0.0.1:{port}")
        load(f"http://127.0.0.1:{port}{path}", requests=requests, warmup=0, timeout=60,
             stream=stream, include_usage=stream and path.endswith("/chat/completions"), **load_options)
    except Exception as error:  # valgrind may not run a Swift server: report why, do not fail the run
        target.stop()
        output = open(target.log_path, errors="replace").read()
        if "the 'impossible' happened" in output or "INTERNAL ERROR" in output:
            version = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
            crash = next((line for line in output.splitlines() if "INTERNAL ERROR" in line), "").strip("- ")
            raise RuntimeError(f"{version} itself crashed while running `serve` ({crash})")
        raise RuntimeError(str(error)[-300:])
    target.stop()
    summary = subprocess.run(["callgrind_annotate", out], capture_output=True, text=True).stdout
    found = re.search(r"([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", summary)
    if not found:
        raise RuntimeError("no callgrind totals")
    return int(found.group(1).replace(",", ""))


def callgrind_config(mock_port, name, general=()):
    """A config for the callgrind benches of new surfaces: the alias `grok` on the mock, a SQLite database of its own,
    and no work per interval of wall time within a run (rows written per 2,000, no key or configuration poll), which
    would make a count depend on how slowly valgrind ran; `general` adds general_settings lines."""
    path = os.path.join(WORK, f"{name}-{mock_port}.yaml")
    base = f"http://127.0.0.1:{mock_port}/v1"
    open(path, "w").write(
        "model_list:\n"
        f"  - model_name: grok\n    litellm_params: {{model: xai/grok-4.3, api_base: \"{base}\", api_key: {KEY}}}\n"
        "litellm_settings:\n  drop_params: true\n"
        f"general_settings:\n  database_url: \"sqlite:{WORK}/{name}-{mock_port}.db\"\n"
        "  proxy_batch_write_at: 3600\n  user_api_key_cache_ttl: 3600\n"
        + "".join(f"  {line}\n" for line in general))
    return path


def callgrind_arguments():
    """`--requests N` (1,000) and `--runs R` (1), as the callgrind benches of new surfaces take them."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    return parser.parse_args()


def callgrind_per_request(name, requests, runs, total):
    """The median over `runs` of (total(2N) - total(N)) / N, where `total(n, run)` counts n requests."""
    values = []
    for attempt in range(runs):
        values.append((total(2 * requests, attempt) - total(requests, attempt)) // requests)
        print(f"{name}: {values[-1]:,} instructions per request", file=sys.stderr)
    return int(statistics.median(values))


def callgrind(mock_port, requests):
    """Instructions per proxied request, from valgrind --tool=callgrind: two runs, `requests` and twice as many,
    so start-up and shutdown cancel out of the difference (a figure free of timing noise)."""
    if shutil.which("valgrind") is None:
        return {"error": "valgrind not installed"}
    log("callgrind: instructions per request")
    try:
        once = callgrind_total(mock_port, requests)
        twice = callgrind_total(mock_port, 2 * requests)
    except Exception as error:
        return {"error": str(error)}
    result = {"requests": requests, "total_instructions": once, "total_instructions_twice": twice,
              "instructions_per_request": (twice - once) // requests,
              "note": "the difference of two runs (N and 2N requests, c=1 closed loop): start-up and shutdown cancel out"}
    result.update(callgrind_stream(requests))
    return result


def callgrind_stream(requests, few=8, many=72):
    """Instructions per relayed SSE event: `requests` streams of `few` content deltas, then as many of `many`
    (two mocks, no pause between frames); the difference over the extra events is the cost of one event."""
    log("callgrind: instructions per SSE event")
    mocks = []
    try:
        totals = []
        for chunks in (few, many):
            port = free_port()
            mocks.append(start_mock(port, chunks=chunks, name=f"mock-{chunks}-chunks"))
            totals.append(callgrind_total(port, requests, stream=True))
    except Exception as error:
        return {"stream_error": str(error)}
    finally:
        for mock in mocks:
            mock.stop()
    extra = requests * (many - few)
    return {"stream_requests": requests, "stream_chunks": [few, many], "stream_totals": totals,
            "instructions_per_sse_event": (totals[1] - totals[0]) // extra}


# ----------------------------------------------------------------------------------------------------------
# Report


def machine():
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except Exception:
        pass
    def version(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        except Exception:
            return "unknown"
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "swift": version(["swift", "--version"]), "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
            "litellm": "litellm[proxy]==1.100.0" if os.path.exists(LITELLM) else "not installed"}


def fmt(value, unit=""):
    if value is None:
        return "-"
    if isinstance(value, float):
        value = round(value, 1)
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def ratio(a, b):
    if not a or not b:
        return "-"
    return f"{a / b:.1f}x"


def render(results):
    lines = []
    meta = results["meta"]
    m = meta["machine"]
    if meta.get("partial") and meta.get("previous"):
        base = meta["previous"]
        m = base["machine"]
        lines += [f"Tables from the {'quick' if base['quick'] else 'full'} run of {base['date']}, except "
                  f"{', '.join(meta['partial'])}: from `bench/run.py --only {','.join(meta['partial'])}"
                  f"{' --quick' if meta['quick'] else ''}` at {meta['date']}.", ""]
        meta = dict(base, mock_bound=base.get("mock_bound"))
    lines += [f"Run {meta['date']} ({'quick' if meta['quick'] else 'full'}), `bench/run.sh{' --quick' if meta['quick'] else ''}`, "
              f"{m['cores']} cores ({m['cpu']}), Linux {m['kernel']}, {m['swift']}, {m['nginx']}, {m['litellm']}. "
              "Times in microseconds unless marked. Load client: `switchyard-load` (HTTP/1.1 on NIO + HdrHistogram), "
              "upstream: the release `switchyard mock`.", ""]
    if meta.get("mock_bound"):
        lines += [f"**Mock-bound:** {meta['mock_bound']}", ""]
    a = results.get("a", {}).get("summary")
    if a:
        lines += ["### (a) Added latency, c=1, interleaved rounds (proxy pinned to core 0, mock and load on core 1)", "",
                  "p50, p99 and CPU: medians over the rounds; added: the median over the rounds of each round's difference "
                  "from the direct path (the machine drifts between rounds). CPU is the proxy's run time from the scheduler.", "",
                  "| target | p50 | p99 | added p50 | added p99 | CPU per request |", "|---|---|---|---|---|---|"]
        for name, row in a.items():
            lines.append(f"| {name} | {fmt(row['p50_us'])} | {fmt(row['p99_us'])} | {fmt(row.get('added_p50_us'))} | "
                         f"{fmt(row.get('added_p99_us'))} | {fmt(row.get('cpu_us_per_request'))} |")
        lines.append("")
    a_stream = results.get("a_stream", {}).get("summary")
    if a_stream:
        lines += ["### (a) Streams at c=1: time to first content delta, interleaved rounds (pinned as above)", "",
                  "Each request a `grok-code-fast-1` stream as xAI sends one (reasoning deltas, empty deltas, then the content: "
                  "10 frames, 1 ms apart; usage asked for), timed from the send to its first content delta (the sixth frame); "
                  "CPU per stream is the proxy's.", "",
                  "| target | TTFC p50 | TTFC p99 | added p50 | added p99 | CPU per stream |", "|---|---|---|---|---|---|"]
        for name, row in a_stream.items():
            lines.append(f"| {name} | {fmt(row['p50_us'])} | {fmt(row['p99_us'])} | {fmt(row.get('added_p50_us'))} | "
                         f"{fmt(row.get('added_p99_us'))} | {fmt(row.get('cpu_us_per_request'))} |")
        lines.append("")
    shared = results.get("shared")
    if shared:
        lines += ["### Shared topology: everything unpinned, c=10", "",
                  "| target | rps | p50 | p99 | CPU per request | Switchyard vs this |", "|---|---|---|---|---|---|"]
        mine = shared.get("switchyard", {}).get("rps")
        for name, row in shared.items():
            lines.append(f"| {name} | {fmt(row['rps'])} | {fmt(row['p50_us'])} | {fmt(row['p99_us'])} | "
                         f"{fmt(row.get('cpu_us_per_request'))} | {ratio(mine, row['rps']) if name != 'switchyard' else '-'} |")
        lines.append("")
    b = results.get("b")
    if b:
        lines += ["### (b) Concurrency sweep, proxy pinned to one core: rps / p99", "",
                  "| target | " + " | ".join(f"c={pt['concurrency']}" for pt in b["points"]["direct"]) + " |",
                  "|---|" + "---|" * len(b["points"]["direct"])]
        for name, points in b["points"].items():
            lines.append(f"| {name} | " + " | ".join(f"{fmt(pt['rps'])} / {fmt(pt['p99_us'])}" for pt in points) + " |")
        lines += ["", "| target | max rps, p99 < 1 ms | < 5 ms | < 10 ms |", "|---|---|---|---|"]
        for name, row in b["frontier"].items():
            lines.append(f"| {name} | {fmt(row['max_rps_p99_under_1ms'])} | {fmt(row['max_rps_p99_under_5ms'])} | "
                         f"{fmt(row['max_rps_p99_under_10ms'])} |")
        lines.append("")
    c = results.get("c")
    if c:
        lines += ["### (c) SSE: 64 deltas 20 ms apart", "",
                  "| target | streams | ok | stall-free | TTFC p50 | TTFC p99 | gap p99 | added TTFC p99 | added gap p99 | CPU per frame | peak RSS |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, points in c["points"].items():
            for point in points:
                added = next((x for x in c["added"].get(name, []) if x["streams"] == point["streams"]), {})
                lines.append(f"| {name} | {point['streams']} | {point['ok']} | {fmt(point['stall_free'])} | {fmt(point['ttfc_p50_us'])} | "
                             f"{fmt(point['ttfc_p99_us'])} | {fmt(point['gap_p99_us'])} | {fmt(added.get('added_ttfc_p99_us'))} | "
                             f"{fmt(added.get('added_gap_p99_us'))} | {fmt(point['cpu_us_per_frame'])} | "
                             f"{fmt(point['peak_rss_kb'] and point['peak_rss_kb'] // 1024, ' MB')} |")
        lines.append("")
    d = results.get("d")
    if d:
        lines += ["### (d) 1 s upstream latency, 1,000 requests in flight (open loop, 1,000 rps)", "",
                  f"Direct p99 {fmt(d['direct_p99_us'])}, through Switchyard {fmt(d['proxy_p99_us'])}: added p99 "
                  f"{fmt(d['added_p99_us'])}; errors {d['errors']} of {d['requests']}; RSS idle {fmt(d['idle_rss_kb'] // 1024)} MB, "
                  f"peak {fmt(d['peak_rss_kb'] // 1024)} MB.", ""]
    e = results.get("e")
    if e:
        lines += ["### (e) Prompt size", "", "| prompt | direct p50 | Switchyard p50 | added p50 | added p99 |", "|---|---|---|---|---|"]
        for row in e:
            lines.append(f"| {fmt(row['prompt_bytes'])} B | {fmt(row['direct_p50_us'])} | {fmt(row['proxy_p50_us'])} | "
                         f"{fmt(row['added_p50_us'])} | {fmt(row['added_p99_us'])} |")
        lines.append("")
    f = results.get("f")
    if f:
        lines += ["### (f) Soak", "",
                  f"{fmt(f['requests'])} requests at c=16, {f['errors']} errors; RSS "
                  + " -> ".join(f"{s['rss_kb'] // 1024} MB" for s in f["samples"])
                  + f"; growth after the first chunk: {fmt(f['growth_after_first_chunk_kb'])} kB.", ""]
    g = results.get("g")
    if g:
        lines += ["### (g) Routing cost with 1,000 aliases (c=1 p50)", "",
                  f"One alias {fmt(g['one_alias_p50_us'])}; first of 1,000 {fmt(g['first_of_1000_p50_us'])}; "
                  f"last of 1,000 {fmt(g['last_of_1000_p50_us'])}.", ""]
    h = results.get("h")
    if h:
        lines += ["### (h) Cold start to first 200", "",
                  f"Median {h['median_ms']} ms over {len(h['samples_ms'])} starts ({', '.join(str(s) for s in h['samples_ms'])}).", ""]
    st = results.get("storage")
    if st:
        lines += ["### Storage on vs off (c=1, interleaved, proxy pinned to core 0)", "",
                  "Storage on: SQLite request log written in batches, spend per key and day, a virtual key with a budget "
                  "and limits checked on every request, metrics. Off: `database_url: none`, no master key. The added p50 and "
                  "CPU are medians over the rounds of each round's difference (on against off, run one after the other).", "",
                  "| build | p50 | p99 | CPU per request |", "|---|---|---|---|"]
        for name, row in st["summary"].items():
            lines.append(f"| {name} | {fmt(row['p50_us'])} | {fmt(row['p99_us'])} | {fmt(row['cpu_us_per_request'])} |")
        lines += ["", f"Added p50: {fmt(st['added_p50_us'])} us (target <= 20); CPU per request: "
                  f"{st['cpu_increase_pct']:+.1f}% (target <= 5%); {st['rows_written']} request-log rows written "
                  f"({st['rounds']} rounds of {st['requests_per_round']} requests, plus warm-up).", ""]
    cg = results.get("callgrind")
    if cg:
        if "error" in cg:
            lines += ["### Instructions per request (callgrind)", "", f"Not measured: {cg['error']}", ""]
        else:
            if "instructions_per_request" in cg:
                text = (f"{fmt(cg['instructions_per_request'])} instructions per proxied request: the difference of two "
                        f"runs under valgrind, {cg['requests']} and {2 * cg['requests']} requests "
                        f"({fmt(cg['total_instructions'])} and {fmt(cg['total_instructions_twice'])} instructions, "
                        "start-up and shutdown included in both).")
            else:  # results of an older harness
                text = (f"{fmt(cg['total_instructions'])} instructions for {cg['requests']} requests, start-up and "
                        f"shutdown included: at most {fmt(cg['instructions_per_request_upper_bound'])} per request.")
            if "instructions_per_sse_event" in cg:
                few, many = cg["stream_chunks"]
                text += (f" {fmt(cg['instructions_per_sse_event'])} instructions per relayed SSE event: "
                         f"{cg['stream_requests']} streams of {few} content deltas against as many of {many} "
                         f"({fmt(cg['stream_totals'][0])} and {fmt(cg['stream_totals'][1])} instructions).")
            elif "stream_error" in cg:
                text += f" Per SSE event not measured: {cg['stream_error']}"
            lines += ["### Instructions per request (callgrind)", "", text, ""]
    nodelay = results.get("nodelay")
    if nodelay:
        lines += ["### TCP_NODELAY", "", nodelay, ""]
    return "\n".join(lines)


def write_doc(section):
    text = open(DOC).read() if os.path.exists(DOC) else "# Benchmarks\n"
    start, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    block = f"{start}\n{section}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n## Latest run (generated by bench/run.py)\n\n" + block + "\n"
    open(DOC, "w").write(text)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated scenarios: a,b,storage,shared,c,d,e,f,g,h,callgrind")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    def wanted(name):
        return not only or name in only
    quick = args.quick
    use_litellm = not args.skip_litellm and os.path.exists(LITELLM)
    results = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                        "quick": quick, "machine": machine(), "litellm": use_litellm}}
    mock_port = free_port()
    mock = start_mock(mock_port, cpus="1")
    direct_url = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
    targets = []
    try:
        # Pinned topology: each proxy on core 0; the mock and the load client on core 1.
        if wanted("a") or wanted("b"):
            targets.append(start_switchyard(mock_port, cpus="0"))
            targets.append(start_nginx(mock_port, cpus="0"))
            if use_litellm:
                targets.append(start_litellm(mock_port, cpus="0"))
        if wanted("a"):
            results["a"] = scenario_a(targets, direct_url, rounds=3 if quick else 8, requests=500 if quick else 2000, pinned_load="1")
            added = results["a"]["summary"]["switchyard"]["added_p50_us"]
            results["nodelay"] = (f"Added p50 at c=1 is {added} us on both legs together; Nagle's algorithm without "
                                  "TCP_NODELAY shows as ~40,000 us, so both legs have it off.")
        if wanted("b"):
            levels = [1, 16, 64] if quick else [1, 4, 16, 64, 256]
            results["b"] = scenario_b(targets, direct_url, levels, pinned_load="1")
            direct_max = max(pt["rps"] for pt in results["b"]["points"]["direct"])
            proxy_max = max(pt["rps"] for pt in results["b"]["points"]["switchyard"])
            if direct_max < 2 * proxy_max:
                results["meta"]["mock_bound"] = (f"direct-to-mock peaks at {direct_max} rps, less than twice Switchyard's "
                                                 f"{proxy_max} rps: the proxy's throughput may be limited by the mock and load client")
        for target in targets:
            target.stop()
        targets = []
        if wanted("a"):
            results["a_stream"] = scenario_a_stream(rounds=3 if quick else 8, streams=300 if quick else 1000,
                                                    use_litellm=use_litellm)
        if wanted("storage"):
            results["storage"] = scenario_storage(mock_port, rounds=4 if quick else 8, requests=1000 if quick else 3000)
        # Shared topology: nothing pinned.
        mock.stop()
        mock_port = free_port()
        mock = start_mock(mock_port)
        direct_url = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
        if wanted("shared") or wanted("e") or wanted("f"):
            targets.append(start_switchyard(mock_port))
            targets.append(start_nginx(mock_port))
            if use_litellm and wanted("shared"):
                targets.append(start_litellm(mock_port))
        if wanted("shared"):
            results["shared"] = scenario_shared(targets, direct_url, requests=5000 if quick else 30000)
        if wanted("e"):
            results["e"] = scenario_e(targets[0], direct_url, quick)
        if wanted("f"):
            results["f"] = scenario_f(targets[0], total=20000 if quick else 100000, chunk=5000 if quick else 10000)
        for target in targets:
            target.stop()
        targets = []
        if wanted("c"):
            def make_targets(port):
                made = [start_switchyard(port, name="switchyard"), start_nginx(port)]
                if use_litellm:
                    made.append(start_litellm(port))
                return made
            results["c"] = scenario_c(make_targets, [1, 64, 256] if quick else [1, 64, 256, 1024], quick)
        if wanted("d"):
            results["d"] = scenario_d(seconds=2 if quick else 5)
        if wanted("g"):
            results["g"] = scenario_g(mock_port, requests=500 if quick else 2000)
        if wanted("h"):
            results["h"] = scenario_h(5 if quick else 15)
        if wanted("callgrind"):
            results["callgrind"] = callgrind(mock_port, requests=200 if quick else 1000)
    finally:
        for target in targets:
            target.stop()
        mock.stop()
    os.makedirs(os.path.join(RESULTS, "raw"), exist_ok=True)
    latest = os.path.join(RESULTS, "latest.json")
    if only and os.path.exists(latest):
        # A partial run updates its scenarios and keeps the others from the last run, marked as such.
        previous = json.load(open(latest))
        for key, value in previous.items():
            if key not in results:
                results[key] = value
        results["meta"]["partial"] = sorted(only)
        # The other scenarios' tables keep the run they came from.
        results["meta"]["previous"] = previous["meta"].get("previous") or previous["meta"]
    text = json.dumps(results, indent=1)
    open(os.path.join(RESULTS, "latest.json"), "w").write(text)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    open(os.path.join(RESULTS, "raw", f"{stamp}.json"), "w").write(text)
    write_doc(render(results))
    log("wrote bench/results/latest.json and docs/benchmarks.md")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
