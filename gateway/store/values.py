"""An in-store index of the words that start each stored string, kept current by triggers.

Grounding asks "which stored values contain the words 'le guin'?" for every request; a ``LIKE
'%le guin%'`` answers by reading the whole column. This index holds, for every distinct value
of every ``String`` column, each of its word suffixes (``"ursula k. le guin"``, ``"k. le
guin"``, ``"le guin"``, ``"guin"``: lower case, split on spaces, the first ``WORDS`` words of the
first ``CHARS`` characters) with a count of the rows holding that value. A phrase then is a range
scan on the primary key ``(model, field, suffix, value)``: its cost depends on the hits asked
for, not on the table. Triggers in the store keep it current on every insert, update and delete,
whoever writes (the gateway, ``gateway import``, another tool); it is built once per column at
start-up and dropped when grounding is switched off. SQLite lower-cases ASCII only.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ..sdl import Catalog
from .engine import is_sqlite

log = logging.getLogger(__name__)

TABLE = "_gateway_values"
STATE = "_gateway_values_columns"
WORDS = 16    # word suffixes indexed per value
CHARS = 300   # characters of a value indexed (and kept for hints)
TOP = chr(0x10FFFF)  # sorts after any character, bytewise in SQLite and under PostgreSQL's "C" collation


def indexed_columns(catalog: Catalog) -> dict[str, list[str]]:
    """The ``String`` columns of each model: what grounding may look up."""
    out = {m.name: [f.name for f in m.fields.values() if f.kind == "scalar" and f.type_name == "String"]
           for m in catalog.models.values()}
    return {m: cols for m, cols in out.items() if cols}


def ensure_value_index(engine: Engine, catalog: Catalog, enabled: bool = True) -> list[str]:
    """Create the index and its triggers, fill it for new columns; or drop it all when disabled.

    Runs in one transaction under a lock (SQLite's write lock, a PostgreSQL advisory lock), so
    gateways starting together fill each column once. Returns the columns filled now. A store
    that refuses (a PostgreSQL user without the right to create functions) leaves everything as
    it was and the gateway serves without hints: grounding helps, it is never a reason not to start.
    """
    try:
        return _ensure(engine, catalog, enabled)
    except SQLAlchemyError as e:
        log.warning("grounding is off: the store refused its value index (%s)", str(e).splitlines()[0][:200])
        return []


def _ensure(engine: Engine, catalog: Catalog, enabled: bool) -> list[str]:
    sqlite = is_sqlite(engine)
    columns = indexed_columns(catalog)
    with engine.connect() as conn:
        conn = conn.execution_options(write=True)
        with conn.begin():
            if not sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": TABLE})
            for name in catalog.models:
                _drop_triggers(conn, name, sqlite)
            if not enabled:
                conn.execute(text(f'DROP TABLE IF EXISTS "{TABLE}"'))
                conn.execute(text(f'DROP TABLE IF EXISTS "{STATE}"'))
                return []
            _create_tables(conn, sqlite)
            done = {(m, f) for m, f in conn.execute(text(f'SELECT model, field FROM "{STATE}"'))}
            filled: list[str] = []
            for model, fields in columns.items():
                _create_triggers(conn, model, fields, sqlite)
                for f in fields:
                    if (model, f) not in done:
                        _fill(conn, model, f, sqlite)
                        conn.execute(text(f'INSERT INTO "{STATE}"(model, field) VALUES (:m, :f)'), {"m": model, "f": f})
                        filled.append(f"{model}.{f}")
    return filled


def probe(conn: Connection, model: str, field: str, phrases: list[str], per_phrase: int) -> list[str]:
    """Distinct values of ``model.field`` with a word suffix that starts with one of ``phrases``.

    One statement: for each phrase a range scan of the primary key, at most ``per_phrase`` rows.
    """
    parts, params = [], {"m": model, "f": field, "k": per_phrase}
    ascii_only = conn.dialect.name == "sqlite"  # lower-case the phrase as the store did its values
    for i, phrase in enumerate(phrases):
        low = " ".join("".join(c.lower() if c.isascii() or not ascii_only else c for c in phrase).split())
        params[f"lo{i}"], params[f"hi{i}"] = low, low + TOP
        parts.append(f'SELECT * FROM (SELECT value FROM "{TABLE}" WHERE model = :m AND field = :f '
                     f"AND suffix >= :lo{i} AND suffix < :hi{i} ORDER BY suffix LIMIT :k) AS p{i}")
    if not parts:
        return []
    seen: dict[str, None] = {}
    for (value,) in conn.execute(text(" UNION ALL ".join(parts)), params):
        seen.setdefault(value)
    return list(seen)


# -- DDL ------------------------------------------------------------------------------------
def _create_tables(conn: Connection, sqlite: bool) -> None:
    collate = "" if sqlite else ' COLLATE "C"'
    conn.execute(text(f'CREATE TABLE IF NOT EXISTS "{TABLE}" (model TEXT NOT NULL, field TEXT NOT NULL, '
                      f"suffix TEXT{collate} NOT NULL, value TEXT{collate} NOT NULL, n INTEGER NOT NULL, "
                      "PRIMARY KEY (model, field, suffix, value))"))
    conn.execute(text(f'CREATE TABLE IF NOT EXISTS "{STATE}" (model TEXT NOT NULL, field TEXT NOT NULL, '
                      "PRIMARY KEY (model, field))"))
    if not sqlite:
        conn.execute(text(_PG_FUNCTIONS))


def _drop_triggers(conn: Connection, model: str, sqlite: bool) -> None:
    if sqlite:
        for op in ("ins", "upd", "del"):
            conn.execute(text(f'DROP TRIGGER IF EXISTS "{TABLE}_{model}_{op}"'))
    else:
        for op in ("ins", "upd", "del"):
            conn.execute(text(f'DROP TRIGGER IF EXISTS "{TABLE}_{model}_{op}" ON "{model}"'))
            conn.execute(text(f'DROP FUNCTION IF EXISTS "{TABLE}_{model}_{op}"()'))


def _fill(conn: Connection, model: str, field: str, sqlite: bool) -> None:
    """Index the values already stored in one column (once, when the column is new to the index)."""
    if sqlite:
        suffix, source, where = _sqlite_suffix_parts(f't."{field}"')
        conn.execute(text(f'INSERT INTO "{TABLE}"(model, field, suffix, value, n) '
                          f'SELECT :m, :f, {suffix}, substr(t."{field}", 1, {CHARS}), count(*) '
                          f'FROM "{model}" AS t, {source} WHERE t."{field}" IS NOT NULL AND {where} GROUP BY 3, 4 '
                          "ON CONFLICT (model, field, suffix, value) DO UPDATE SET n = n + excluded.n"),
                     {"m": model, "f": field})
    else:
        conn.execute(text(_pg_add(model, field, f'"{model}" AS r')))


def _sqlite_suffix_parts(expr: str) -> tuple[str, str, str]:
    """(suffix expression, source, condition) listing the word suffixes of ``expr``, one row each.

    The words are a JSON array: the lower-cased value, quoted by json_quote (no escape holds a
    space), its spaces turned into '","'.
    """
    clean = f"replace(replace(replace(substr({expr}, 1, {CHARS}), char(10), ' '), char(13), ' '), char(9), ' ')"
    words = f"'[' || replace(json_quote(lower({clean})), ' ', '\",\"') || ']'"
    suffix = (f"(SELECT group_concat(b.value, ' ') FROM json_each({words}) AS b "
              "WHERE b.key >= a.key AND b.value <> '')")
    return suffix, f"json_each({words}) AS a", f"a.value <> '' AND a.key < {WORDS}"


def _sqlite_suffixes(expr: str) -> str:
    suffix, source, where = _sqlite_suffix_parts(expr)
    return f"SELECT {suffix} AS suffix FROM {source} WHERE {where}"


def _sqlite_add(model: str, field: str, guard: str = "") -> str:
    v = f'NEW."{field}"'
    return (f'INSERT INTO "{TABLE}"(model, field, suffix, value, n) '
            f"SELECT '{model}', '{field}', s.suffix, substr({v}, 1, {CHARS}), 1 FROM ({_sqlite_suffixes(v)}) AS s "
            f"WHERE {v} IS NOT NULL{guard} ON CONFLICT (model, field, suffix, value) DO UPDATE SET n = n + 1;")


def _sqlite_drop(model: str, field: str, guard: str = "") -> str:
    v = f'OLD."{field}"'
    where = (f"model = '{model}' AND field = '{field}' AND value = substr({v}, 1, {CHARS}) "
             f"AND suffix IN ({_sqlite_suffixes(v)}){guard}")
    return (f'UPDATE "{TABLE}" SET n = n - 1 WHERE {where}; '
            f'DELETE FROM "{TABLE}" WHERE {where} AND n <= 0;')


def _create_triggers(conn: Connection, model: str, fields: list[str], sqlite: bool) -> None:
    if sqlite:
        add = " ".join(_sqlite_add(model, f) for f in fields)
        drop = " ".join(_sqlite_drop(model, f) for f in fields)
        changed = " ".join(_sqlite_drop(model, f, f' AND OLD."{f}" IS NOT NEW."{f}"')
                           + " " + _sqlite_add(model, f, f' AND OLD."{f}" IS NOT NEW."{f}"') for f in fields)
        conn.execute(text(f'CREATE TRIGGER "{TABLE}_{model}_ins" AFTER INSERT ON "{model}" BEGIN {add} END'))
        conn.execute(text(f'CREATE TRIGGER "{TABLE}_{model}_del" AFTER DELETE ON "{model}" BEGIN {drop} END'))
        of = ", ".join(f'"{f}"' for f in fields)  # an update of other columns costs nothing
        conn.execute(text(f'CREATE TRIGGER "{TABLE}_{model}_upd" AFTER UPDATE OF {of} ON "{model}" '
                          f"BEGIN {changed} END"))
        return
    # PostgreSQL: statement-level triggers see every row a statement changed as one table,
    # so a bulk insert updates the index in one set-based statement per column.
    old_changed = "old_rows AS r JOIN new_rows AS x ON x.id = r.id"  # r: the row before the update
    new_changed = "new_rows AS r JOIN old_rows AS x ON x.id = r.id"  # r: the row after it
    for op, event, tables, sql in (
            ("ins", "INSERT", "NEW TABLE AS new_rows", [_pg_add(model, f, "new_rows AS r") for f in fields]),
            ("del", "DELETE", "OLD TABLE AS old_rows", [_pg_drop(model, f, "old_rows AS r") for f in fields]),
            ("upd", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows",
             [_pg_drop(model, f, old_changed, f' AND r."{f}" IS DISTINCT FROM x."{f}"') + " "
              + _pg_add(model, f, new_changed, f' AND r."{f}" IS DISTINCT FROM x."{f}"') for f in fields])):
        name = f"{TABLE}_{model}_{op}"
        conn.execute(text(f'CREATE FUNCTION "{name}"() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER '
                          "SET search_path FROM CURRENT AS $$ BEGIN "
                          + " ".join(sql) + " RETURN NULL; END $$"))
        conn.execute(text(f'CREATE TRIGGER "{name}" AFTER {event} ON "{model}" REFERENCING {tables} '
                          f'FOR EACH STATEMENT EXECUTE FUNCTION "{name}"()'))


def _pg_add(model: str, field: str, rows: str, guard: str = "") -> str:
    return (f'INSERT INTO "{TABLE}"(model, field, suffix, value, n) '
            f"SELECT '{model}', '{field}', s, left(r.\"{field}\", {CHARS}), count(*) "
            f'FROM {rows}, LATERAL "{TABLE}_suffixes"(r."{field}") AS s WHERE r."{field}" IS NOT NULL{guard} '
            f'GROUP BY 3, 4 ON CONFLICT (model, field, suffix, value) DO UPDATE SET n = "{TABLE}".n + excluded.n;')


def _pg_drop(model: str, field: str, rows: str, guard: str = "") -> str:
    gone = (f'SELECT s, left(r."{field}", {CHARS}) AS v, count(*) AS k FROM {rows}, '
            f'LATERAL "{TABLE}_suffixes"(r."{field}") AS s WHERE r."{field}" IS NOT NULL{guard} GROUP BY 1, 2')
    return (f'UPDATE "{TABLE}" AS t SET n = t.n - d.k FROM ({gone}) AS d '
            f"WHERE t.model = '{model}' AND t.field = '{field}' AND t.suffix = d.s AND t.value = d.v; "
            f"DELETE FROM \"{TABLE}\" WHERE model = '{model}' AND field = '{field}' AND n <= 0 "
            f"AND (suffix, value) IN (SELECT s, v FROM ({gone}) AS d);")


_PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION "{TABLE}_suffixes"(v text) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
  SELECT array_to_string(w[i:], ' ')
  FROM (SELECT array_remove(string_to_array(lower(translate(left(v, {CHARS}), E'\\n\\r\\t', '   ')), ' '), '') AS w) AS x,
       generate_subscripts(w, 1) AS i
  WHERE i <= {WORDS}
$$;
"""
