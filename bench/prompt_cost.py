"""Cost vs. data size: tokens per request for our planner and for the whole-DB-in-the-prompt way.

For 10, 100, 1,000 and 10,000 tasks (plus projects, people and tags scaled along) in a real
SQLite store, one request ("tasks tagged urgent", selection ``id title status priority``)
goes through the real gateway with a recording model; the prompt it was sent and the plan it
answered are counted. The ancestor's way (the whole JSON database pasted into the prompt, the
model answering with the records) is counted for the same request on the same data: its prompt
is the same instructions and full SDL plus ``gateway export`` of the store, its completion the
records the request returns, as JSON.

Tokens are counted with Mistral's Tekken tokenizer (``tekken_240911.json``, shipped inside the
``mistral-common`` package, so no download: ``pip install mistral-common``), the tokenizer of
the gateway's default hosted model family. tiktoken installs but fetches its encodings from the
network at first use, which is not available here.

    .venv/bin/python bench/prompt_cost.py [--sizes 10,100,1000,10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import httpx
from common import DEMO_SCHEMA, table, tracker_seed, write_result

from gateway import Gateway, Message, ScriptedProvider, Settings, create_app, export_records, import_records

REQUEST = "tasks tagged urgent"
SELECTION = "id title status priority"
PLAN = {"steps": [{"op": "find", "model": "Task", "where": {"tags": {"name": {"eq": "urgent"}}},
                   "orderBy": [{"field": "id", "direction": "asc"}]}], "result": 0, "params": {"tag": "urgent"}}
WHOLE_DB_SYSTEM = """You are the resolver of a GraphQL API. Answer the request with the JSON value of the
field, using only the records of the database below. Follow the schema exactly.

Schema:
{sdl}

Database (JSON, every record):
{db}
"""


def tokenizer() -> tuple[str, Callable[[str], int]]:
    """Mistral's Tekken tokenizer from the file inside mistral-common (offline)."""
    from pathlib import Path as P

    import mistral_common
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    path = P(mistral_common.__file__).parent / "data" / "tekken_240911.json"
    tk = Tekkenizer.from_file(str(path))
    return f"mistral-common {mistral_common.__version__} Tekken ({path.name})", \
        lambda text: len(tk.encode(text, bos=False, eos=False))


def chat_tokens(count: Callable[[str], int], messages: list[Message]) -> int:
    """Tokens of a chat's contents (a few control tokens per message aside)."""
    return sum(count(m["content"]) for m in messages)


async def measure(size: int, count: Callable[[str], int]) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="gw-cost-"))
    model = ScriptedProvider([PLAN])
    gw = Gateway(Settings(schema=str(DEMO_SCHEMA), db=f"sqlite:///{tmp / 'cost.db'}", plan_cache=False),
                 provider=model)
    seed = tracker_seed(size)
    import_records(gw.executor, seed)
    rows = sum(len(v) for v in seed.values())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(gw)), base_url="http://gw") as c:
        body = (await c.post("/graphql", json={"query": f'{{ tasks(q: "{REQUEST}") {{ {SELECTION} }} }}'})).json()
    assert "errors" not in body, body
    sent = model.calls[0]["messages"]
    ours_prompt = chat_tokens(count, sent)
    ours_completion = count(json.dumps(PLAN))
    answer = json.dumps(body["data"]["tasks"])
    t0 = time.perf_counter()
    whole_db = json.dumps(export_records(gw.executor))
    whole = [{"role": "system", "content": WHOLE_DB_SYSTEM.format(sdl=gw.catalog.sdl, db=whole_db)},
             {"role": "user", "content": f"Field: query tasks: [Task!]!\nSelected: {SELECTION}\nRequest: {REQUEST}"}]
    whole_prompt = chat_tokens(count, whole)
    whole_completion = count(answer)
    gw.close()
    return {"tasks": size, "rows": rows, "matching_records": len(body["data"]["tasks"]),
            "ours": {"prompt": ours_prompt, "completion": ours_completion},
            "whole_db": {"prompt": whole_prompt, "completion": whole_completion},
            "db_json_chars": len(whole_db), "count_s": round(time.perf_counter() - t0, 2)}


async def run(sizes: list[int]) -> dict[str, Any]:
    name, count = tokenizer()
    return {"tokenizer": name, "request": REQUEST, "selection": SELECTION,
            "sizes": [await measure(n, count) for n in sizes]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10,100,1000,10000")
    args = ap.parse_args()
    res = asyncio.run(run([int(s) for s in args.sizes.split(",")]))
    print(f"request {res['request']!r}, selection {{ {res['selection']} }}; tokens by {res['tokenizer']}\n")
    print(table(["tasks", "rows in store", "records answered", "ours: prompt", "ours: completion",
                 "whole DB: prompt", "whole DB: completion", "whole DB / ours (total)"],
                [[s["tasks"], s["rows"], s["matching_records"], s["ours"]["prompt"], s["ours"]["completion"],
                  s["whole_db"]["prompt"], s["whole_db"]["completion"],
                  f"{(s['whole_db']['prompt'] + s['whole_db']['completion']) / (s['ours']['prompt'] + s['ours']['completion']):,.1f}x"]
                 for s in res["sizes"]]))
    first, last = res["sizes"][0]["ours"], res["sizes"][-1]["ours"]
    print(f"\nour prompt tokens from {res['sizes'][0]['tasks']:,} to {res['sizes'][-1]['tasks']:,} tasks: "
          f"{first['prompt']} -> {last['prompt']} ({'flat' if first['prompt'] == last['prompt'] else 'CHANGED'})")
    print(f"wrote {write_result('prompt_cost', res)}")


if __name__ == "__main__":
    main()
