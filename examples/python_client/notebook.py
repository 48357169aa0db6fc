"""Use the gateway from Python, notebook style: one cell per question.

    python examples/python_client/notebook.py [--url http://127.0.0.1:8000/graphql] [--api-key KEY]

Start a gateway first (`gateway serve`), or pass --url to one that runs elsewhere.
"""

from __future__ import annotations

import argparse
import json

from gateway import GatewayClient, GatewayQueryError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000/graphql")
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    with GatewayClient(args.url, args.api_key) as client:
        # In [1]: add a task, in plain words
        added = client.ask("tasks", "add a task 'Call the plumber', high priority", "id title priority",
                           mutation=True)
        print("added:", json.dumps(added.data), "| plan ops:", [s["op"] for s in added.plan["steps"]])
        # In [2]: ask a question and look at how it was answered
        found = client.ask("tasks", "high priority tasks", "title status")
        print("high priority:", json.dumps(found.data))
        print("timings:", json.dumps(found.timings))
        # In [3]: a field without q lists, with no model call
        print("all titles:", [t["title"] for t in client.ask("tasks", None, "title").data])
        # In [4]: errors come back as exceptions with their codes
        try:
            client.ask("tasks", "delete every task", "title", mutation=True)
        except GatewayQueryError as e:
            print("refused:", e)


if __name__ == "__main__":
    main()
