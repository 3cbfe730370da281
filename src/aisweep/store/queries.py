"""Read-only queries the reports need: list runs, resolve a run reference, and read a run's capped observations."""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa

from aisweep.errors import StoreError
from aisweep.store.db import Store
from aisweep.store.schema import bodies, observations, runs, services

_LATEST = re.compile(r"^latest(?:~(\d+))?$")


def list_runs(store: Store) -> list[dict[str, Any]]:
    """Every run, newest first, with its service count."""
    count = (
        sa.select(services.c.run_id, sa.func.count().label("services")).group_by(services.c.run_id).subquery("counts")
    )
    query = (
        sa.select(runs.c.id, runs.c.started_at, runs.c.finished_at, runs.c.status, runs.c.command, count.c.services)
        .select_from(runs.outerjoin(count, count.c.run_id == runs.c.id))
        .order_by(runs.c.started_at.desc(), runs.c.id.desc())
    )
    with store.engine.connect() as conn:
        return [dict(row) | {"services": row["services"] or 0} for row in conn.execute(query).mappings()]


def resolve_run(store: Store, ref: str | None) -> str:
    """A run id from a reference: None or "latest", "latest~N" (N runs before the latest), a full id or a unique
    prefix of one."""
    ids = [r["id"] for r in list_runs(store)]
    if not ids:
        raise StoreError(f"no runs in {store.url}; run `aisweep scan` or `aisweep demo` first")
    m = _LATEST.match(ref or "latest")
    if m:
        back = int(m.group(1) or 0)
        if back >= len(ids):
            raise StoreError(f"{ref}: only {len(ids)} run(s) in {store.url}")
        return str(ids[back])
    assert ref is not None
    if ref in ids:
        return ref
    matches = [i for i in ids if i.startswith(ref)]
    if len(matches) == 1:
        return str(matches[0])
    if not matches:
        raise StoreError(f"no run {ref!r} in {store.url}; the newest is {ids[0]} (`latest` names it)")
    raise StoreError(f"run prefix {ref!r} is ambiguous: {', '.join(matches[:5])}")


def observations_by_service(store: Store, run_id: str, per_service: int = 40) -> dict[str, list[dict[str, Any]]]:
    """The stored (capped) observations of a run, keyed by service "host:port", in the order they were sent."""
    query = (
        sa.select(
            services.c.host,
            services.c.port,
            observations.c.method,
            observations.c.path,
            observations.c.outcome,
            observations.c.status,
            observations.c.headers,
            sa.func.coalesce(bodies.c.body, observations.c.body).label("body"),
            observations.c.truncated,
            observations.c.elapsed_ms,
        )
        .select_from(
            observations.join(services, observations.c.service_id == services.c.id).outerjoin(
                bodies, observations.c.body_sha == bodies.c.sha256
            )
        )
        .where(observations.c.run_id == run_id)
        .order_by(observations.c.service_id, observations.c.id)
    )
    out: dict[str, list[dict[str, Any]]] = {}
    with store.engine.connect() as conn:
        for row in conn.execution_options(stream_results=True).execute(query).mappings():
            host = str(row["host"])
            key = f"[{host}]:{row['port']}" if ":" in host else f"{host}:{row['port']}"
            bucket = out.setdefault(key, [])
            if len(bucket) >= per_service:
                continue
            bucket.append(
                {
                    "method": row["method"],
                    "path": row["path"],
                    "outcome": row["outcome"],
                    "status": row["status"],
                    "headers": json.loads(row["headers"] or "[]"),
                    "body": bytes(row["body"] or b""),
                    "truncated": bool(row["truncated"]),
                    "elapsed_ms": row["elapsed_ms"],
                }
            )
    return out
