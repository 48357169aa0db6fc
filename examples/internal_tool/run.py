"""One command: the fake analytics API plus the gateway serving this tool's schema.

    python examples/internal_tool/run.py [--model mistral:mistral-large-latest]

Then ask: { signups(q: "emails that signed up last week on the pro plan") { email signedUpAt } }
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fake_analytics  # noqa: E402

if __name__ == "__main__":
    api = fake_analytics.start(0)
    env = {**os.environ, "ANALYTICS_URL": f"http://127.0.0.1:{api.server_address[1]}"}
    cmd = [
        sys.executable,
        "-m",
        "gateway.cli",
        "serve",
        "--schema",
        str(HERE / "schema.graphql"),
        "--db",
        f"sqlite:///{HERE / 'tool.db'}",
        *sys.argv[1:],
    ]
    env["GATEWAY_CONNECTORS"] = str(HERE / "connectors.py")
    sys.exit(subprocess.call(cmd, env=env))
