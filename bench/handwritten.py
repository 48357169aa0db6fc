"""The hand-written baseline: what a developer would write by hand for the benchmark's queries.

strawberry types and SQLAlchemy Core queries over the gateway's own tables. ``app_from_env``
serves it with ``uvicorn --factory --workers N`` (``HANDWRITTEN_DB`` names the store).
"""

from __future__ import annotations

import os
from typing import Any, Optional

import strawberry
from sqlalchemy import MetaData, Table, create_engine, func, select
from strawberry.asgi import GraphQL

DB: dict[str, Any] = {}  # engine and tables, set by handwritten_app


@strawberry.type
class Task:
    id: strawberry.ID
    title: str
    status: str
    priority: Optional[str]


@strawberry.type
class Query:
    @strawberry.field
    def tasks(self, tag: Optional[str] = None, project: Optional[str] = None,
              priority: Optional[str] = None) -> list[Task]:
        task, tags, projects, task_tags = DB["Task"], DB["Tag"], DB["Project"], DB["Tag_tasks__Task_tags"]
        stmt = select(task.c.id, task.c.title, task.c.status, task.c.priority).order_by(task.c.id)
        if tag is not None:  # the join table's left_id is the Tag, right_id the Task
            stmt = stmt.where(task.c.id.in_(select(task_tags.c.right_id)
                                            .join(tags, tags.c.id == task_tags.c.left_id)
                                            .where(tags.c.name == tag)))
        if project is not None:
            stmt = stmt.where(task.c.project.in_(select(projects.c.id).where(projects.c.name == project)))
        if priority is not None:
            stmt = stmt.where(task.c.priority == priority)
        with DB["engine"].connect() as conn:
            return [Task(id=r.id, title=r.title, status=r.status, priority=r.priority) for r in conn.execute(stmt)]

    @strawberry.field
    def task_count(self, status: Optional[str] = None) -> int:
        stmt = select(func.count()).select_from(DB["Task"])
        if status is not None:
            stmt = stmt.where(DB["Task"].c.status == status)
        with DB["engine"].connect() as conn:
            return int(conn.execute(stmt).scalar_one())


def handwritten_app(db_url: str) -> tuple[Any, Any]:
    engine = create_engine(db_url)
    meta = MetaData()
    DB["engine"] = engine
    for name in ("Task", "Tag", "Project", "Tag_tasks__Task_tags"):
        DB[name] = Table(name, meta, autoload_with=engine)
    return GraphQL(strawberry.Schema(query=Query)), engine


def app_from_env() -> Any:
    """App factory for uvicorn worker processes."""
    return handwritten_app(os.environ["HANDWRITTEN_DB"])[0]
