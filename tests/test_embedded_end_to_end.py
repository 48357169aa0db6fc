"""The embedded model for real: one small request over HTTP that inserts, then reads back."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from test_embedded import _real_model_skip_reason

from conftest import LiveServer, make_gateway

NOTES = """
type Note {
  id: ID!
  text: String!
}
type Query { notes(q: String): [Note!]! }
type Mutation { notes(q: String!): [Note!]! }
"""


@pytest.mark.skipif(_real_model_skip_reason() is not None, reason=str(_real_model_skip_reason()))
def test_embedded_model_inserts_over_http_and_the_record_reads_back(tmp_path: Path) -> None:
    schema = tmp_path / "schema.graphql"
    schema.write_text(NOTES)
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", schema=schema, model="embedded",
                                     model_timeout_s=600)).start()
    try:
        body = server.gql('mutation { notes(q: "add a note with the text: buy oat milk") { id text } }',
                          timeout=600)  # a real model on two shared cores
        assert "errors" not in body, body
        trace = body["extensions"]["fields"]["notes"]
        assert trace["model"].startswith("embedded"), trace
        assert "insert" in [s["op"] for s in trace["plan"]["steps"]], trace["plan"]
        created = body["data"]["notes"]
        assert len(created) == 1 and "oat milk" in created[0]["text"].lower()
        listed = server.gql("{ notes { id text } }")["data"]["notes"]
        assert listed == created
    finally:
        server.stop()
