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

from sqlalchemy import Connection, Engine, text

from ..sdl import Catalog, Model
from .engine import is_sqlite

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
    gateways starting together fill each column once. Returns the columns filled now.
    """
    sqlite = is_sqlite(engine)
    columns = indexed_columns(catalog)
    with engine.connect() as conn:
        conn = conn.execution_options(write=True)
        with conn.begin():
            if not sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": TABLE})
            for model in catalog.models.values():
                _drop_triggers(conn, model.name, sqlite)
            if not enabled:
                conn.execute(text(f'DROP TABLE IF EXISTS "{TABLE}"'))
                conn.execute(text(f'DROP TABLE IF EXISTS "{STATE}"'))
                return []
            _create_tables(conn, sqlite)
            done = {(m, f) for m, f in conn.execute(text(f'SELECT model, field FROM "{STATE}"'))}
            filled = []
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
    for i, phrase in enumerate(phrases):
        low = " ".join(phrase.lower().split())
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
        conn.execute(text(f'DROP TRIGGER IF EXISTS "{TABLE}_{model}" ON "{model}"'))
        conn.execute(text(f'DROP FUNCTION IF EXISTS "{TABLE}_{model}"()'))


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
        conn.execute(text(f'INSERT INTO "{TABLE}"(model, field, suffix, value, n) '
                          f'SELECT :m, :f, s, left(t."{field}", {CHARS}), count(*) '
                          f'FROM "{model}" AS t, LATERAL "{TABLE}_suffixes"(t."{field}") AS s '
                          f'WHERE t."{field}" IS NOT NULL GROUP BY s, left(t."{field}", {CHARS}) '
                          "ON CONFLICT (model, field, suffix, value) DO UPDATE SET n = "
                          f'"{TABLE}".n + excluded.n'), {"m": model, "f": field})


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
        conn.execute(text(f'CREATE TRIGGER "{TABLE}_{model}_upd" AFTER UPDATE ON "{model}" BEGIN {changed} END'))
        return
    body = []
    for f in fields:
        body.append(f"IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.\"{f}\" IS DISTINCT FROM NEW.\"{f}\") THEN "
                    f"PERFORM \"{TABLE}_drop\"('{model}', '{f}', OLD.\"{f}\"); END IF;")
        body.append(f"IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND OLD.\"{f}\" IS DISTINCT FROM NEW.\"{f}\") THEN "
                    f"PERFORM \"{TABLE}_add\"('{model}', '{f}', NEW.\"{f}\", 1); END IF;")
    conn.execute(text(f'CREATE FUNCTION "{TABLE}_{model}"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN '
                      + " ".join(body) + " RETURN NULL; END $$"))
    conn.execute(text(f'CREATE TRIGGER "{TABLE}_{model}" AFTER INSERT OR UPDATE OR DELETE ON "{model}" '
                      f'FOR EACH ROW EXECUTE FUNCTION "{TABLE}_{model}"()'))


_PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION "{TABLE}_suffixes"(v text) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
  SELECT array_to_string(w[i:], ' ')
  FROM (SELECT array_remove(string_to_array(lower(translate(left(v, {CHARS}), E'\\n\\r\\t', '   ')), ' '), '') AS w) AS x,
       generate_subscripts(w, 1) AS i
  WHERE i <= {WORDS}
$$;
CREATE OR REPLACE FUNCTION "{TABLE}_add"(m text, f text, v text, k int) RETURNS void LANGUAGE sql AS $$
  INSERT INTO "{TABLE}"(model, field, suffix, value, n)
  SELECT m, f, s, left(v, {CHARS}), k FROM "{TABLE}_suffixes"(v) AS s WHERE v IS NOT NULL
  ON CONFLICT (model, field, suffix, value) DO UPDATE SET n = "{TABLE}".n + excluded.n
$$;
CREATE OR REPLACE FUNCTION "{TABLE}_drop"(m text, f text, v text) RETURNS void LANGUAGE sql AS $$
  UPDATE "{TABLE}" SET n = n - 1 WHERE model = m AND field = f AND value = left(v, {CHARS})
    AND suffix IN (SELECT "{TABLE}_suffixes"(v));
  DELETE FROM "{TABLE}" WHERE model = m AND field = f AND value = left(v, {CHARS})
    AND suffix IN (SELECT "{TABLE}_suffixes"(v)) AND n <= 0
$$;
"""
