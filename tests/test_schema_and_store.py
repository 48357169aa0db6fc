"""The SDL is the contract: what it derives, what it refuses, and how the store follows it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from conftest import LiveServer, make_gateway
from gateway import ImportInvalid, MigrationRefused, SchemaError, ScriptedProvider, export_records, import_records
from gateway.sdl import build_catalog  # internal: a unit of the SDL stage

LIBRARY = """
scalar DateTime
enum Genre { SCIFI FANTASY ESSAY }
interface Node { id: ID! }
type Author implements Node { id: ID! name: String! country: String books: [Book!]! }
type Book implements Node {
  id: ID!
  title: String! @index
  year: Int
  rating: Float
  inPrint: Boolean
  genre: Genre
  keywords: [String!]
  published: DateTime
  author: Author
}
input BookFilter { genre: Genre }
type Query {
  books(q: String, limit: Int, filter: BookFilter): [Book!]!
  nodes(q: String): [Node!]!
  bookCount(q: String): Int
}
type Mutation { books(q: String!): [Book!]! }
"""


def write(tmp_path: Path, sdl: str, name: str = "schema.graphql") -> Path:
    p = tmp_path / name
    p.write_text(sdl)
    return p


@pytest.mark.parametrize(
    ("sdl", "line", "reason"),
    [
        ("type Query { a(q: String): Int }\nunion U = Query", 2, "unions are not supported"),
        ("type Query {\n  things: [String]\n}", 2, "needs the natural-language argument `q: String`"),
        (
            "type Query { a(q: String): Int }\ntype Subscription {\n  b: Int\n}",
            3,
            "subscription field b needs the natural-language argument",
        ),
        ("type T { id: ID! m: [[String]] }\ntype Query { t(q: String): T }", 1, "lists of lists"),
        ("type Query {\n  a(q: Int): Int\n}", 2, "q: String"),
        ("type Query { a(q: String): Int\n", 2, "Expected Name"),
        ("type T { id: ID! x: Nope }\ntype Query { t(q: String): T }", None, "Nope"),
        (
            "type P { id: ID! a: C b: C }\ntype C { id: ID! p: P ps: [P!]! }\ntype Query {\n  c(q: String): C }",
            2,
            "ambiguous",
        ),
    ],
)
def test_unsupported_sdl_is_refused_with_line_and_reason(sdl: str, line: int | None, reason: str) -> None:
    with pytest.raises(SchemaError) as e:
        build_catalog(sdl)
    assert reason in e.value.message
    if line is not None:
        assert f"line {line}" in e.value.message


def test_models_relations_and_tables_are_derived(tmp_path: Path) -> None:
    catalog = build_catalog(LIBRARY)
    assert set(catalog.models) == {"Author", "Book"}
    book = catalog.models["Book"]
    assert book.fields["author"].kind == "ref" and book.fields["keywords"].kind == "scalars"
    assert catalog.models["Author"].fields["books"].relation.via == "author"
    gw = make_gateway(f"sqlite:///{tmp_path / 's.db'}", schema=write(tmp_path, LIBRARY))
    insp = inspect(gw.engine)
    assert {c["name"] for c in insp.get_columns("Book")} >= {"id", "title", "year", "keywords", "author"}
    assert any(ix["column_names"] == ["title"] for ix in insp.get_indexes("Book"))
    assert [fk["referred_table"] for fk in insp.get_foreign_keys("Book")] == ["Author"]


def test_scalars_lists_custom_scalars_interfaces_and_inputs_round_trip(db_url: str, tmp_path: Path) -> None:
    model = ScriptedProvider([])
    gw = make_gateway(db_url, schema=write(tmp_path, LIBRARY), provider=model)
    import_records(
        gw.executor,
        {
            "Author": [
                {"id": "a1", "name": "Stanisław Lem", "country": "Poland"},
                {"id": "a2", "name": "Ursula K. Le Guin", "country": "USA"},
            ],
            "Book": [
                {
                    "id": "b1",
                    "title": "Solaris",
                    "year": 1961,
                    "rating": 4.5,
                    "inPrint": True,
                    "genre": "SCIFI",
                    "keywords": ["ocean", "contact"],
                    "published": "1961-01-01T00:00:00Z",
                    "author": "a1",
                },
                {
                    "id": "b2",
                    "title": "The Dispossessed",
                    "year": 1974,
                    "genre": "SCIFI",
                    "keywords": ["anarchy"],
                    "author": "a2",
                },
            ],
        },
    )
    server = LiveServer(gw).start()
    try:
        model.route(
            "ocean",
            {
                "steps": [
                    {
                        "op": "find",
                        "model": "Book",
                        "where": {
                            "and": [{"keywords": {"contains": "ocean"}}, {"author": {"country": {"eq": "Poland"}}}]
                        },
                    }
                ],
                "result": 0,
            },
        )
        body = server.gql(
            'query($f: BookFilter) { books(q: "polish books about the ocean", filter: $f) '
            "{ title year rating inPrint genre keywords published author { name } } }",
            {"f": {"genre": "SCIFI"}},
        )
        assert body["data"]["books"] == [
            {
                "title": "Solaris",
                "year": 1961,
                "rating": 4.5,
                "inPrint": True,
                "genre": "SCIFI",
                "keywords": ["ocean", "contact"],
                "published": "1961-01-01T00:00:00Z",
                "author": {"name": "Stanisław Lem"},
            }
        ]
        hints = model.calls[0]["messages"][-1]["content"]
        assert '"filter": {"genre": "SCIFI"}' in hints
        model.route(
            "nodes",
            {"steps": [{"op": "find", "model": "Author", "where": {"name": {"startsWith": "urs"}}}], "result": 0},
        )
        nodes = server.gql('{ nodes(q: "nodes") { id __typename ... on Author { name books { title } } } }')
        assert nodes["data"]["nodes"] == [
            {"id": "a2", "__typename": "Author", "name": "Ursula K. Le Guin", "books": [{"title": "The Dispossessed"}]}
        ]
    finally:
        server.stop()


def test_additive_migration_keeps_data_and_adds_columns(db_url: str, tmp_path: Path) -> None:
    gw = make_gateway(db_url, schema=write(tmp_path, LIBRARY))
    import_records(gw.executor, {"Author": [{"id": "a1", "name": "Lem"}]})
    gw.close()
    grown = (
        LIBRARY.replace("country: String", "country: String\n  born: Int @index")
        + "\ntype Publisher { id: ID! name: String! }\n"
    )
    gw2 = make_gateway(db_url, schema=write(tmp_path, grown, "v2.graphql"))
    assert "add column Author.born" in gw2.migrations and "create table Publisher" in gw2.migrations
    assert export_records(gw2.executor)["Author"] == [{"id": "a1", "name": "Lem"}]
    gw2.close()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda s: s.replace("  country: String\n", "").replace("country: String ", ""), "column Author.country"),
        (lambda s: s.replace("year: Int", "year: String"), "changes type"),
        (lambda s: s.replace("country: String", "country: String\n  code: String!"), "new required field Author.code"),
        (
            lambda s: s.replace(
                "type Author implements Node { id: ID! name: String! country: String books: [Book!]! }",
                "type Writer implements Node { id: ID! name: String! books: [Book!]! }",
            ).replace("author: Author", "author: Writer"),
            "table Author",
        ),
    ],
)
def test_destructive_migration_is_refused_and_data_is_kept(db_url: str, tmp_path: Path, change, reason: str) -> None:
    gw = make_gateway(db_url, schema=write(tmp_path, LIBRARY))
    import_records(
        gw.executor,
        {
            "Author": [{"id": "a1", "name": "Lem", "country": "Poland"}],
            "Book": [{"id": "b1", "title": "Solaris", "year": 1961, "author": "a1"}],
        },
    )
    before = export_records(gw.executor)
    gw.close()
    changed = change(LIBRARY)
    assert changed != LIBRARY
    with pytest.raises(MigrationRefused) as e:
        make_gateway(db_url, schema=write(tmp_path, changed, "v2.graphql"))
    assert reason in e.value.message
    again = make_gateway(db_url, schema=write(tmp_path, LIBRARY, "v1.graphql"))
    assert export_records(again.executor) == before
    again.close()


def test_import_is_all_or_nothing_and_export_round_trips_between_stores(tmp_path: Path, pg_url: str) -> None:
    from conftest import TRACKER_SEED

    sqlite = make_gateway(f"sqlite:///{tmp_path / 'a.db'}")
    import_records(sqlite.executor, TRACKER_SEED)
    data = export_records(sqlite.executor)
    pg = make_gateway(pg_url)
    bad = {**data, "Task": data["Task"] + [{"id": "t9", "title": "Bad", "status": "NOPE"}]}
    with pytest.raises(ImportInvalid) as e:
        import_records(pg.executor, bad)
    assert "NOPE" in str(e.value)
    assert all(rows == [] for rows in export_records(pg.executor).values())
    dangling = {**data, "Task": data["Task"] + [{"id": "t9", "title": "Lost", "status": "TODO", "project": "p404"}]}
    with pytest.raises(ImportInvalid):
        import_records(pg.executor, dangling)
    assert all(rows == [] for rows in export_records(pg.executor).values())
    import_records(pg.executor, data)
    assert export_records(pg.executor) == data
    # a many-to-many is written once, on one side of the pair
    assert {t["id"]: t.get("tasks") for t in data["Tag"]} == {"g1": ["t1", "t3"], "g2": ["t3"]}
    sqlite.close()
    pg.close()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    from sqlalchemy import text

    gw = make_gateway(f"sqlite:///{tmp_path / 's.db'}")
    with gw.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    gw.close()


@pytest.mark.parametrize("sdl", [LIBRARY, (Path(__file__).resolve().parent.parent / "schema.graphql").read_text()])
def test_worked_examples_in_the_prompt_are_valid_plans_for_their_field(sdl: str) -> None:
    from gateway.plan.lookups import parse_answer  # internal: a unit of the plan stage
    from gateway.policy import invented_strings  # internal: a unit of the policy stage
    from gateway.prompt import build_messages, example_plans  # internal: a unit of the prompt stage
    from gateway.validation import validate_plan  # internal: a unit of the validation stage

    catalog = build_catalog(sdl)
    for root in catalog.root_fields.values():
        examples = example_plans(catalog, root)
        assert examples, root.key
        for example in examples:
            request, plan = example.request, example.plan
            parsed = validate_plan(catalog, parse_answer(catalog, plan), root)
            # an example is grounded in its own request, and a model copying it into another
            # request's plan would write text nobody gave: the invented-text check stops it
            assert invented_strings(catalog, parsed, request) == []
            if parsed.writes and any(s.op == "insert" for s in parsed.steps):
                assert invented_strings(catalog, parsed, "add a task called Fix login to the Website project")
        messages = build_messages(catalog, root, "anything", "id", {})
        assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * len(examples) + ["user"]


def test_unique_on_a_field_with_duplicate_values_is_refused(db_url: str, tmp_path: Path) -> None:
    gw = make_gateway(db_url, schema=write(tmp_path, LIBRARY))
    import_records(
        gw.executor,
        {
            "Author": [
                {"id": "a1", "name": "Lem", "country": "Poland"},
                {"id": "a2", "name": "Tokarczuk", "country": "Poland"},
            ]
        },
    )
    gw.close()
    with pytest.raises(MigrationRefused) as e:
        make_gateway(
            db_url, schema=write(tmp_path, LIBRARY.replace("country: String", "country: String @unique"), "v2.graphql")
        )
    assert "Author.country cannot become @unique" in e.value.message
    unique_names = LIBRARY.replace("name: String! country", "name: String! @unique country")
    assert unique_names != LIBRARY
    ok = make_gateway(db_url, schema=write(tmp_path, unique_names, "v3.graphql"))
    assert any("create index" in m for m in ok.migrations)
    ok.close()
