"""Plans that ran well come back as worked examples for similar new requests; wrong ones never do."""

from __future__ import annotations

from typing import Any

from conftest import TRACKER_SEED, LiveServer, make_gateway
from gateway import ScriptedProvider, import_records

URGENT = {"steps": [{"op": "find", "model": "Task", "where": {"tags": {"name": {"eq": "urgent"}}}}], "result": 0}
HIGH = {"steps": [{"op": "find", "model": "Task", "where": {"priority": {"eq": "HIGH"}}}], "result": 0}


def example_requests(call: dict[str, Any]) -> list[str]:
    """The request texts shown to the model as earlier turns (the last user turn is the request)."""
    return [m["content"] for m in call["messages"] if m["role"] == "user"][:-1]


def test_a_plan_that_ran_well_is_offered_for_a_similar_request_until_marked_wrong(tmp_path: Any) -> None:
    model = ScriptedProvider([])
    model.route("open tasks tagged urgent", URGENT)
    model.route("tasks tagged urgent with high priority", HIGH, HIGH)
    gw = make_gateway(f"sqlite:///{tmp_path / 's.db'}", provider=model, plan_cache=True)
    import_records(gw.executor, TRACKER_SEED)
    server = LiveServer(gw).start()
    try:
        assert "errors" not in server.gql('{ tasks(q: "open tasks tagged urgent") { title } }')
        assert "errors" not in server.gql('{ tasks(q: "tasks tagged urgent with high priority") { title } }')
        shown = example_requests(model.calls[-1])
        assert any("open tasks tagged urgent" in text for text in shown), shown

        taught = next(e for e in gw.plan_cache.list("tasks") if "open tasks tagged urgent" in str(e))
        gw.plan_cache.mark_wrong(taught.id)
        gw.plan_cache.evict(next(e.id for e in gw.plan_cache.list("tasks") if "high priority" in str(e)))
        assert "errors" not in server.gql('{ tasks(q: "tasks tagged urgent with high priority") { title } }')
        shown = example_requests(model.calls[-1])
        assert not any("open tasks tagged urgent" in text for text in shown), shown
    finally:
        server.stop()
