"""Table definitions and the ordered list of schema migrations (a migration is applied once, in order)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("status", sa.String(20), nullable=False),  # running / finished / interrupted / failed
    sa.Column("command", sa.String(20), nullable=False),
    sa.Column("targets", sa.Text, nullable=False),
    sa.Column("settings", sa.Text, nullable=False),
    sa.Column("counters", sa.Text, nullable=False),
    sa.Column("tool_version", sa.String(20), nullable=False),
    sa.Column("checkpoint", sa.Text),  # schema v2: per-worker resume state
)

services = sa.Table(
    "services",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("position", sa.BigInteger),
    sa.Column("host", sa.String(64), nullable=False),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("scheme", sa.String(8), nullable=False),
    sa.Column("hostname", sa.String(255)),
    sa.Column("product", sa.String(64), nullable=False),
    sa.Column("version", sa.String(64)),
    sa.Column("version_confidence", sa.String(16)),
    sa.Column("auth_tier", sa.String(32), nullable=False),
    sa.Column("confidence", sa.String(16)),
    sa.Column("record", sa.Text, nullable=False),
    sa.Index("ix_services_run_product", "run_id", "product"),
    sa.Index("ix_services_run_id", "run_id", "id"),  # schema v5: a run's services in order, without a sort
)

findings = sa.Table(
    "findings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False),
    sa.Column("finding_id", sa.String(128), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("control", sa.String(32), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("remediation", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    # Schema v5: a text shared by services (a title, a remediation, an advisory's evidence) lives once in `texts`:
    # its column here is "" and the *_ref column holds the text's id. NULL ref: the text is in its column (a text
    # naming the service's own address, a short one, and every row written before v5).
    sa.Column("category", sa.Text),
    sa.Column("title_ref", sa.Integer),
    sa.Column("evidence_ref", sa.Integer),
    sa.Column("remediation_ref", sa.Integer),
    sa.Index("ix_findings_service", "service_id"),
)
# The columns schema v5 added to `findings` (version 1 created the table without them).
FINDING_COLUMNS_V5: Final = ("category", "title_ref", "evidence_ref", "remediation_ref")

observations = sa.Table(
    "observations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("headers", sa.Text, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),  # capped; `truncated` says when
    sa.Column("truncated", sa.Boolean, nullable=False),
    sa.Column("elapsed_ms", sa.Float),
    sa.Column("body_sha", sa.String(64)),  # schema v3: the body lives in `bodies` (stored once per content)
    sa.Index("ix_observations_service", "service_id"),
)

# Schema v3: response bodies by SHA-256, so the same page served by a thousand hosts is stored once.
bodies = sa.Table(
    "bodies",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("body", sa.LargeBinary, nullable=False),
)

# Schema v5: finding texts by SHA-256 (like `bodies`), referenced from `findings` by the small integer id: every
# service of one release repeats the same titles, remediations and advisory evidence.
texts = sa.Table(
    "texts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("text", sa.Text, nullable=False),
)


def _v1_initial(conn: Connection) -> None:
    # Version 1's tables, as first released (runs without `checkpoint`, findings without version 5's columns,
    # observations without `body_sha`).
    inspector = sa.inspect(conn)
    if not inspector.has_table("runs"):
        cols = [c._copy() for c in runs.columns if c.name != "checkpoint"]
        sa.Table("runs", sa.MetaData(), *cols).create(conn)
    metadata.create_all(conn, tables=[services], checkfirst=True)
    if not inspector.has_table("findings"):
        cols = [c._copy() for c in findings.columns if c.name not in FINDING_COLUMNS_V5]
        sa.Table("findings", sa.MetaData(), *cols, sa.Index("ix_findings_run", "run_id", "finding_id")).create(conn)
    if not inspector.has_table("observations"):
        cols = [c._copy() for c in observations.columns if c.name != "body_sha"]
        sa.Table("observations", sa.MetaData(), *cols, sa.Index("ix_observations_service", "service_id")).create(conn)


def _v2_resume(conn: Connection) -> None:
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN checkpoint TEXT"))
    conn.execute(sa.text("CREATE UNIQUE INDEX IF NOT EXISTS ux_services_target ON services (run_id, host, port)"))


def _v3_bodies(conn: Connection) -> None:
    conn.execute(sa.text("ALTER TABLE observations ADD COLUMN body_sha VARCHAR(64)"))
    metadata.create_all(conn, tables=[bodies], checkfirst=True)


def _v4_lean_indexes(conn: Connection) -> None:
    # ix_services_run_host repeated ux_services_target's columns; nothing queries findings by fingerprint (diffs and
    # reports read the records). Each was a B-tree insert per row, the fingerprint one at a random place: at a
    # million services, page reads and writes the parent spent most of its time on.
    conn.execute(sa.text("DROP INDEX IF EXISTS ix_services_run_host"))
    conn.execute(sa.text("DROP INDEX IF EXISTS ix_findings_fingerprint"))


def _v5_shared_texts(conn: Connection) -> None:
    # Rows written before v5 stay as they are (their records hold their findings; their texts are in their columns):
    # adding nullable columns is instant on SQLite and PostgreSQL, rewriting every record would not be.
    metadata.create_all(conn, tables=[texts], checkfirst=True)
    for name in FINDING_COLUMNS_V5:
        kind = "TEXT" if name == "category" else "INTEGER"
        conn.execute(sa.text(f"ALTER TABLE findings ADD COLUMN {name} {kind}"))
    # Records are read in service order with their findings (two indexes appended to in insert order: the reader
    # neither sorts a run nor looks findings up by run). Nothing queries findings by run and finding id, an index
    # inserted at a random place within the run.
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_services_run_id ON services (run_id, id)"))
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_findings_service ON findings (service_id)"))
    conn.execute(sa.text("DROP INDEX IF EXISTS ix_findings_run"))


# (version, step). Append new steps; never edit an applied one.
MIGRATIONS: Final[list[tuple[int, Callable[[Connection], None]]]] = [
    (1, _v1_initial),
    (2, _v2_resume),
    (3, _v3_bodies),
    (4, _v4_lean_indexes),
    (5, _v5_shared_texts),
]
SCHEMA_VERSION: Final = MIGRATIONS[-1][0]
