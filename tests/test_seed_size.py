"""A seed is not a model answer: an import of thousands of records is checked and stored whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_gateway
from gateway import ImportInvalid, export_records, import_records


def test_a_large_seed_imports_in_one_go_and_a_bad_record_still_stops_it(tmp_path: Path) -> None:
    gw = make_gateway(f"sqlite:///{tmp_path / 's.db'}")
    tags = [{"id": f"g{i}", "name": f"tag {i} " + "x" * 200} for i in range(3000)]
    assert import_records(gw.executor, {"Tag": tags}) == {"Tag": 3000}
    assert [t["id"] for t in export_records(gw.executor)["Tag"]] == [t["id"] for t in tags]  # creation order
    with pytest.raises(ImportInvalid):
        import_records(
            gw.executor,
            {"Tag": [*({"id": f"h{i}", "name": f"new {i}"} for i in range(1500)), {"id": "bad", "name": 3}]},
        )
    assert len(export_records(gw.executor)["Tag"]) == 3000
    gw.close()
