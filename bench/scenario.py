"""The climbing-club scenario with a real model: row-dependent writes and reads, step by step.

`gateway serve` (the user's own command, with its start-up warm-up) runs on a fresh SQLite
store with ``examples/climbing-club/schema.graphql``; each step is one GraphQL request over
HTTP in plain words; only the final state is checked, as a person would check it: members,
their phones numbered in creation order, computed emails, birth dates given "respectively",
sports, a level given by name, and "the phone of the member who does the most sports".

    .venv/bin/python bench/scenario.py [--model embedded:qwen2.5-coder-0.5b]

Writes ``bench/results/scenario-<model>.json`` (each step's reading, plan, code and seconds).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import machine, table, write_result

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "examples" / "climbing-club" / "schema.graphql"

# (operation, field, request): each one request, in the order a person would say them
STEPS: list[tuple[str, str, str]] = [
    ("mutation", "members", "add members Ada Byron, Alan Turing and Grace Hopper"),
    ("mutation", "members", "set every member's phone number, starting from 00000 and incrementing in creation order"),
    (
        "mutation",
        "members",
        "set every member's email to their first and last name joined by a dot, in lower case, at club.org",
    ),
    ("mutation", "members", "set the birth dates of the members to 1815-12-10, 1912-06-23 and 1906-12-09 respectively"),
    ("mutation", "sports", "add the sports bouldering and lead climbing"),
    ("mutation", "members", "Alan Turing does bouldering and lead climbing"),
    ("mutation", "members", "Ada Byron does bouldering"),
    ("mutation", "members", "Grace Hopper is advanced"),
]
QUESTION = ("query", "member", "the member who does the most sports")

EXPECTED = [
    ("Ada", "ada.byron@club.org", "00000", "1815-12-10", "BEGINNER", ["bouldering"]),
    ("Alan", "alan.turing@club.org", "00001", "1912-06-23", "BEGINNER", ["bouldering", "lead climbing"]),
    ("Grace", "grace.hopper@club.org", "00002", "1906-12-09", "ADVANCED", []),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def final_state(url: str) -> list[tuple[Any, ...]]:
    body = httpx.post(
        url, json={"query": "{ members { firstName email phone birthDate level sports { name } } }"}
    ).json()
    return [
        (m["firstName"], m["email"], m["phone"], m["birthDate"], m["level"], sorted(s["name"] for s in m["sports"]))
        for m in body["data"]["members"]
    ]


def ask(url: str, operation: str, field: str, request: str) -> dict[str, Any]:
    selection = "firstName phone" if field == "member" else "id"
    document = f"{operation} Step($q: String!) {{ {field}(q: $q) {{ {selection} }} }}"
    started = time.perf_counter()
    body = httpx.post(url, json={"query": document, "variables": {"q": request}}, timeout=900).json()
    seconds = time.perf_counter() - started
    trace = ((body.get("extensions") or {}).get("fields") or {}).get(field, {})
    errors = body.get("errors") or []
    return {
        "request": request,
        "seconds": round(seconds, 2),
        "code": (errors[0].get("extensions") or {}).get("code") if errors else None,
        "message": errors[0].get("message", "")[:300] if errors else None,
        "reading": trace.get("reading"),
        "plan": trace.get("plan"),
        "data": (body.get("data") or {}).get(field),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded", help="model spec (default: the embedded default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gateway-scenario-") as tmp:
        port = free_port()
        env = {**os.environ, "GATEWAY_PLAN_CACHE": "false"}
        gateway = shutil.which("gateway", path=str(Path(sys.executable).parent)) or "gateway"
        command = [gateway, "serve", "--schema", str(SCHEMA), "--db", f"sqlite:///{tmp}/club.db"]
        command += ["--model", args.model, "--port", str(port)]
        server = subprocess.Popen(command, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}/graphql"
        try:
            started = time.perf_counter()
            while True:
                try:
                    httpx.get(url.replace("/graphql", "/healthz"), timeout=1)
                    break
                except httpx.HTTPError:
                    if server.poll() is not None or time.perf_counter() - started > 120:
                        raise RuntimeError("gateway serve did not start") from None
                    time.sleep(0.2)
            steps = [ask(url, *step) for step in STEPS]
            answer = ask(url, *QUESTION)
            state = final_state(url)
        finally:
            server.terminate()
            server.wait(timeout=30)
    passed = state == EXPECTED and answer["data"] == {"firstName": "Alan", "phone": "00001"}
    rows = [[i + 1, s["request"][:70], s["code"] or "ok", s["seconds"]] for i, s in enumerate([*steps, answer])]
    print(table(["step", "request", "outcome", "s"], rows))
    print("final state:", "as expected" if state == EXPECTED else state)
    print("answer:", answer["data"])
    print("scenario", "PASSED" if passed else "FAILED")
    path = write_result(
        f"scenario-{args.model.replace(':', '_')}",
        {
            "benchmark": "scenario",
            "machine": machine(),
            "model": args.model,
            "passed": passed,
            "steps": steps,
            "question": answer,
            "final_state": state,
            "expected": EXPECTED,
        },
    )
    print(f"written {path}")


if __name__ == "__main__":
    main()
