"""The ``gateway`` command: serve, check, ask, import and export."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from .config import Settings, handed_to_workers
from .errors import GatewayError
from .llm import default_model_spec

app = typer.Typer(
    help="A GraphQL gateway whose one resolver is a language model.", no_args_is_help=True, add_completion=False
)
err = Console(stderr=True, soft_wrap=True)  # soft_wrap: an error stays one line, a path unbroken

SchemaOpt = typer.Option(None, "--schema", help="SDL file (env GATEWAY_SCHEMA, default ./schema.graphql)")
DbOpt = typer.Option(None, "--db", help="SQLAlchemy URL (env GATEWAY_DB, default sqlite:///gateway.db)")
ConnectorsOpt = typer.Option(
    None, "--connectors", help="module path or .py file declaring connectors (env GATEWAY_CONNECTORS)"
)
ModelOpt = typer.Option(
    None,
    "--model",
    help="embedded | embedded:qwen2.5-coder-0.5b | embedded:PATH.gguf | mistral:NAME | openai:NAME | scripted:FILE",
)


def _settings(schema: str | None, db: str | None, model: str | None = None, **extra: Any) -> Settings:
    return Settings.from_env(schema=schema, db=db, model=model, **extra)


def _safe_url(url: str) -> str:
    """A store URL fit to print: the password masked."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _gateway(settings: Settings) -> Any:
    from sqlalchemy.exc import SQLAlchemyError

    from .service import Gateway

    try:
        return Gateway(settings)
    except GatewayError as e:
        err.print(f"[red]error:[/red] {escape(e.message)}", highlight=False)
        raise typer.Exit(2) from e
    except SQLAlchemyError as e:
        where = _safe_url(settings.db)
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        err.print(f"[red]error:[/red] cannot use the store at {where}: {reason}", highlight=False)
        raise typer.Exit(2) from e


@app.command()
def serve(
    schema: str | None = SchemaOpt,
    db: str | None = DbOpt,
    model: str | None = ModelOpt,
    host: str | None = typer.Option(None, help="bind address (env GATEWAY_HOST)"),
    port: int | None = typer.Option(None, help="port (env GATEWAY_PORT)"),
    connectors: str | None = ConnectorsOpt,
    workers: int = typer.Option(1, help="uvicorn worker processes (share the store, and Redis when set)"),
    frozen: str | None = typer.Option(
        None,
        "--frozen",
        help="a plans lock file (`gateway plans freeze`): serve only its plans, load no model (env GATEWAY_FROZEN)",
    ),
    documents: str | None = typer.Option(
        None,
        "--documents",
        help="persisted-documents manifest (JSON hash -> "
        "document, as codegen's client preset writes it; env GATEWAY_DOCUMENTS)",
    ),
    trusted_documents_only: bool | None = typer.Option(
        None, "--trusted-documents-only", help="run only the manifest's documents (env GATEWAY_TRUSTED_DOCUMENTS_ONLY)"
    ),
    admin_local: bool | None = typer.Option(
        None,
        "--admin-local",
        help="open the admin API (/admin/graphql) "
        "to loopback callers when no API keys are set (env GATEWAY_ADMIN_LOCAL)",
    ),
) -> None:
    """Serve the SDL on http://HOST:PORT/graphql (GraphiQL in a browser)."""
    import uvicorn

    settings = _settings(
        schema,
        db,
        model,
        host=host,
        port=port,
        connectors=connectors,
        frozen=frozen,
        documents=documents,
        trusted_documents_only=trusted_documents_only,
        admin_local=admin_local,
    )
    gw = _gateway(settings)
    from .server import create_app

    try:
        asgi = create_app(gw)  # checks the manifest before anything listens
    except GatewayError as e:
        err.print(f"[red]error:[/red] {e.message}", highlight=False)
        raise typer.Exit(2) from e
    planning = (
        f"frozen plans from {settings.frozen}, no model"
        if settings.frozen
        else f"model {settings.model or default_model_spec(settings)}"
    )
    err.print(
        f"serving {settings.schema} on http://{settings.host}:{settings.port}/graphql "
        f"(store {_safe_url(settings.db)}, {planning})",
        highlight=False,
    )
    for line in gw.migrations:
        err.print(f"  migrated: {line}", highlight=False)
    if workers > 1:
        # Each worker process builds its own gateway from these same settings, handed over whole.
        gw.close()
        with handed_to_workers(settings):
            uvicorn.run(
                "gateway.server:app_from_env",
                factory=True,
                workers=workers,
                host=settings.host,
                port=settings.port,
                log_level="info",
            )
        return
    if not settings.frozen:
        _warm_model(gw)
    uvicorn.run(asgi, host=settings.host, port=settings.port, log_level="info")


def _warm_model(gw: Any) -> None:
    """Load the model at start-up so the first request is not slow; say clearly if it cannot."""
    try:
        provider = gw.planner.provider
        load = getattr(provider, "load", None)  # the embedded model: join, verify and load now
        if load is not None:
            err.print(f"loading {provider.name} ...", highlight=False)
            load()
    except GatewayError as e:
        err.print(
            f"[yellow]model not ready:[/yellow] {escape(e.message)}\n"
            "  fields called without q still list records; requests in q will fail until a model is set.",
            highlight=False,
        )


@app.command()
def check(schema: str | None = SchemaOpt) -> None:
    """Check the SDL and print the models and tables it derives."""
    from .sdl import load_sdl
    from .store import build_tables

    try:
        catalog = load_sdl(schema or Settings.from_env().schema)
    except GatewayError as e:
        err.print(f"[red]error:[/red] {escape(e.message)}", highlight=False)
        raise typer.Exit(1) from e
    typer.echo(catalog.describe())
    tables = build_tables(catalog)
    typer.echo("tables: " + ", ".join([*tables.models, *tables.joins]))


@app.command()
def ask(
    request: str = typer.Argument(..., help="the request in plain words"),
    field: str = typer.Option(..., "--field", help="root field to ask, e.g. tasks"),
    mutation: bool = typer.Option(False, "--mutation", help="ask the Mutation field of that name"),
    select: str | None = typer.Option(None, "--select", help="selection, default: the type's scalar fields"),
    schema: str | None = SchemaOpt,
    db: str | None = DbOpt,
    model: str | None = ModelOpt,
    connectors: str | None = ConnectorsOpt,
) -> None:
    """Run one request against the configured store and model; print the JSON result."""
    gw = _gateway(_settings(schema, db, model, connectors=connectors))
    op = "mutation" if mutation else "query"
    if f"{op}.{field}" not in gw.catalog.root_fields:
        gw.close()
        err.print(f"[red]error:[/red] no {op} field {field!r}", highlight=False)
        raise typer.Exit(2)
    root = gw.catalog.root(op, field)
    selection = select or _default_selection(gw.catalog, root.type_name)
    doc = f"{op} Ask($q: String!) {{ {field}(q: $q){(' { ' + selection + ' }') if selection else ''} }}"
    try:
        body = asyncio.run(gw.execute(doc, {"q": request})).formatted()
    finally:
        gw.close()  # a write's change notification leaves before the process ends
    typer.echo(json.dumps(body, indent=2, default=str))
    if body.get("errors"):
        raise typer.Exit(1)


def _default_selection(catalog: Any, type_name: str) -> str:
    t = catalog.schema.type_map.get(type_name)
    fields = getattr(t, "fields", None)
    if not fields:
        return ""
    from graphql import get_named_type, is_leaf_type

    return " ".join(n for n, f in fields.items() if is_leaf_type(get_named_type(f.type)))


@app.command("import")
def import_(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="seed JSON file"),
    schema: str | None = SchemaOpt,
    db: str | None = DbOpt,
) -> None:
    """Load seed records in one transaction, checked against the SDL: all or nothing."""
    from .seed import import_records
    from .subscriptions import models_changed

    gw = _gateway(_settings(schema, db))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        counts = import_records(gw.executor, data)
        gw.notifier.publish(models_changed(gw.catalog, counts))  # live subscriptions, wherever they run
    except json.JSONDecodeError as e:
        err.print(f"[red]error:[/red] {path} is not valid JSON: {e}", highlight=False)
        raise typer.Exit(1) from e
    except GatewayError as e:
        err.print(f"[red]error:[/red] {escape(e.message)}", highlight=False)
        raise typer.Exit(1) from e
    finally:
        gw.close()
    typer.echo("imported " + ", ".join(f"{n} {m}" for m, n in counts.items()) if counts else "nothing to import")


@app.command()
def export(
    output: Path | None = typer.Option(None, "--output", "-o", help="write to FILE instead of stdout"),
    schema: str | None = SchemaOpt,
    db: str | None = DbOpt,
) -> None:
    """Print every record in the seed format (the format `gateway import` reads)."""
    from .seed import write_export

    gw = _gateway(_settings(schema, db))
    if output:
        with output.open("w", encoding="utf-8") as f:
            write_export(gw.executor, f)
            f.write("\n")
    else:
        write_export(gw.executor, sys.stdout)
        sys.stdout.write("\n")


plans_app = typer.Typer(
    help="Review cached plans: list, show, approve, reject, pin, evict, clear, freeze.", no_args_is_help=True
)
app.add_typer(plans_app, name="plans")
PlanIdArg = typer.Argument(..., help="plan id (or a unique prefix) from `gateway plans list`")


def _plan_cache(schema: str | None, db: str | None) -> Any:
    """The plan cache of the configured store (and Redis, when GATEWAY_REDIS_URL is set)."""
    from .cache import PlanCache

    settings = _settings(schema, db)
    settings.frozen = None  # review the live cache, never a lock file's copy
    gw = _gateway(settings)
    return gw.plan_cache or PlanCache.open(gw.engine, gw.catalog, settings.redis_url, settings.redis_prefix)


@plans_app.command("list")
def plans_list(
    field: str | None = typer.Option(None, "--field", help="only this root field (tasks or query.tasks)"),
    schema: str | None = SchemaOpt,
    db: str | None = DbOpt,
) -> None:
    """One line per cached plan: id, kind, field, review status, whether it fits the SDL, request text."""
    cache = _plan_cache(schema, db)
    entries = cache.list(field)
    for e in entries:
        state = "current" if cache.is_current(e) else "stale"
        status = e.status + ("+pinned" if e.pinned else "")
        typer.echo(f"{e.id[:12]}  {e.kind:<8}  {e.field:<20}  {status:<15}  {state:<7}  {e.text}")
    typer.echo(f"{len(entries)} plan(s)")


@plans_app.command("show")
def plans_show(plan_id: str = PlanIdArg, schema: str | None = SchemaOpt, db: str | None = DbOpt) -> None:
    """Print one cached plan as JSON, with its plain-English reading."""
    from dataclasses import asdict

    from .describe import describe

    entry = _lifecycle(schema, db, "show", plan_id)
    typer.echo(
        json.dumps({**asdict(entry), "reading": describe(entry.plan)}, indent=2, default=str, ensure_ascii=False)
    )


def _lifecycle(schema: str | None, db: str | None, action: str, plan_id: str) -> Any:
    """Run one lifecycle operation of the plan cache; an unknown id exits 1 with a message."""
    cache = _plan_cache(schema, db)
    try:
        return getattr(cache, action)(plan_id)
    except GatewayError as e:
        err.print(f"[red]error:[/red] {e.message}", highlight=False)
        raise typer.Exit(1) from e


@plans_app.command("approve")
def plans_approve(plan_id: str = PlanIdArg, schema: str | None = SchemaOpt, db: str | None = DbOpt) -> None:
    """Vouch for a plan: it is served to every caller and preferred as a worked example."""
    e = _lifecycle(schema, db, "approve", plan_id)
    typer.echo(f"approved {e.id[:12]}  {e.text}")


@plans_app.command("reject")
def plans_reject(plan_id: str = PlanIdArg, schema: str | None = SchemaOpt, db: str | None = DbOpt) -> None:
    """Never serve this plan again for its request or template, nor use it as an example."""
    e = _lifecycle(schema, db, "reject", plan_id)
    typer.echo(f"rejected {e.id[:12]}  {e.text}")


@plans_app.command("wrong")
def plans_wrong(plan_id: str = PlanIdArg, schema: str | None = SchemaOpt, db: str | None = DbOpt) -> None:
    """Mark a plan as a wrong answer: like reject, recorded as wrong."""
    e = _lifecycle(schema, db, "mark_wrong", plan_id)
    typer.echo(f"marked wrong {e.id[:12]}  {e.text}")


@plans_app.command("pin")
def plans_pin(plan_id: str = PlanIdArg, schema: str | None = SchemaOpt, db: str | None = DbOpt) -> None:
    """Approve a plan and keep it through `plans clear` and schema changes."""
    e = _lifecycle(schema, db, "pin", plan_id)
    typer.echo(f"pinned {e.id[:12]}  {e.text}")


@plans_app.command("evict")
def plans_evict(plan_id: str = PlanIdArg, schema: str | None = SchemaOpt, db: str | None = DbOpt) -> None:
    """Drop a plan; the next such request plans afresh."""
    e = _lifecycle(schema, db, "evict", plan_id)
    typer.echo(f"evicted {e.id[:12]}  {e.text}")


@plans_app.command("clear")
def plans_clear(
    field: str | None = typer.Option(None, "--field", help="only this root field (tasks or query.tasks)"),
    schema: str | None = SchemaOpt,
    db: str | None = DbOpt,
) -> None:
    """Delete cached plans (all, or one field's) from the store and Redis; pinned and rejected ones stay."""
    typer.echo(f"cleared {_plan_cache(schema, db).clear(field)} plan(s)")


@plans_app.command("freeze")
def plans_freeze(
    output: Path = typer.Option(..., "--output", "-o", help="the lock file to write, e.g. plans.lock.json"),
    documents: Path | None = typer.Option(
        None,
        "--documents",
        exists=True,
        dir_okay=False,
        help="a persisted-documents manifest (JSON object hash -> document): plan each literal q it holds",
    ),
    approved_only: bool = typer.Option(False, "--approved-only", help="only plans a developer approved or pinned"),
    schema: str | None = SchemaOpt,
    db: str | None = DbOpt,
    model: str | None = ModelOpt,
    connectors: str | None = ConnectorsOpt,
) -> None:
    """Write the plans this deployment uses to a reviewable lock file for `gateway serve --frozen`."""
    from .cache.freeze import FreezeError, freeze

    settings = _settings(schema, db, model, connectors=connectors)
    settings.frozen = None  # freeze from the live cache and model
    gw = _gateway(settings)
    try:
        text, notes = freeze(gw, documents, approved_only)
    except FreezeError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1) from e
    finally:
        gw.close()
    output.write_text(text, encoding="utf-8")
    for note in notes:
        err.print(f"  {note}", highlight=False)
    typer.echo(f"wrote {output} ({len(json.loads(text)['plans'])} plan(s))")


traces_app = typer.Typer(help="Model-call traces (GATEWAY_TRACES) for distillation.", no_args_is_help=True)
app.add_typer(traces_app, name="traces")


@traces_app.command("export")
def traces_export(
    input: Path | None = typer.Option(None, "--input", "-i", help="traces file (default GATEWAY_TRACES)"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write JSONL here instead of stdout"),
) -> None:
    """Write valid, successful plans in Mistral's fine-tuning chat format (JSONL)."""
    from .traces import export_finetune

    traces = Settings.from_env().traces
    source = input or (Path(traces) if traces else None)
    if source is None or not source.exists():
        err.print("[red]error:[/red] no traces file; pass --input or set GATEWAY_TRACES", highlight=False)
        raise typer.Exit(1)
    if output:
        with output.open("w", encoding="utf-8") as out:
            n = export_finetune(source, out)
    else:
        n = export_finetune(source, sys.stdout)
    err.print(f"{n} examples", highlight=False)


if __name__ == "__main__":  # pragma: no cover
    app()
