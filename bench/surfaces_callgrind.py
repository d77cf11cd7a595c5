#!/usr/bin/env python3
"""Instructions per request for each API surface, against one mock: a chat completion relayed as is (to an xai/ and
to an openai/ deployment), a Responses request relayed natively (xai/), a Responses request and an Anthropic
Messages request translated for a Chat Completions upstream (openai/), and a Messages request translated for xAI's
Responses API.

    python3 bench/surfaces_callgrind.py [--requests 1000] [--runs 1]

Needs the release binaries (`swift build -c release --static-swift-stdlib --product switchyard` and
`--product switchyard-load`). Uses bench/run.py's callgrind method (N vs 2N requests, so start-up and shutdown cancel
out) and prints each case's figure and its ratio to the chat relay as JSON. Changes no file.
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def config(mock_port):
    path = os.path.join(run.WORK, f"surfaces-{mock_port}.yaml")
    base = f"http://127.0.0.1:{mock_port}/v1"
    open(path, "w").write(
        "model_list:\n"
        f"  - model_name: grok\n    litellm_params: {{model: xai/grok-4.3, api_base: \"{base}\", api_key: {run.KEY}}}\n"
        f"  - model_name: chat-only\n    litellm_params: {{model: openai/grok-4.3, api_base: \"{base}\", "
        f"api_key: {run.KEY}}}\n"
        "litellm_settings:\n  drop_params: true\n"
        "general_settings:\n  database_url: none\n")
    return path


CASES = {
    "chat (relayed)": dict(path="/v1/chat/completions", model="grok"),
    "chat (relayed, chat upstream)": dict(path="/v1/chat/completions", model="chat-only"),
    "responses (native, xai)": dict(path="/v1/responses", model="grok", api="responses"),
    "responses (translated, chat upstream)": dict(path="/v1/responses", model="chat-only", api="responses"),
    "messages (translated, chat upstream)": dict(path="/v1/messages", model="chat-only", api="messages"),
    "messages (translated, responses upstream)": dict(path="/v1/messages", model="grok", api="messages"),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--stream", action="store_true", help="streamed requests (the mock's default 8 chunks)")
    args = parser.parse_args()
    port = run.free_port()
    mock = run.start_mock(port)
    results = {}
    try:
        path = config(port)
        for name, options in CASES.items():
            values = []
            for _ in range(args.runs):
                once = run.callgrind_total(port, args.requests, config=path, stream=args.stream, **options)
                twice = run.callgrind_total(port, 2 * args.requests, config=path, stream=args.stream, **options)
                values.append((twice - once) // args.requests)
                print(f"{name}: {values[-1]:,} instructions per request", file=sys.stderr)
            results[name] = int(statistics.median(values))
    finally:
        mock.stop()
    chat = results["chat (relayed)"]
    print(json.dumps({"requests": args.requests, "stream": args.stream, "instructions_per_request": results,
                      "vs_chat_percent": {name: round(100 * (value / chat - 1), 1) for name, value in results.items()}},
                     indent=2))


if __name__ == "__main__":
    main()
