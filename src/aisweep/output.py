"""Streaming scan outputs: JSONL (one service per line), JSON (an array written incrementally) and a table."""

from __future__ import annotations

import json
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from aisweep.models import Severity

TABLE_ROW_LIMIT = 5000


def public_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record without the raw observations (those go to the store only)."""
    return {k: v for k, v in record.items() if k not in ("observations", "position")}


class JsonlSink:
    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def add(self, record: dict[str, Any]) -> None:
        self.stream.write(json.dumps(public_record(record), ensure_ascii=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class JsonArraySink:
    """A JSON array written element by element, so an interrupted run leaves every finished element on disk."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.first = True
        self.stream.write("[")

    def add(self, record: dict[str, Any]) -> None:
        self.stream.write(("\n  " if self.first else ",\n  ") + json.dumps(public_record(record), ensure_ascii=False))
        self.first = False
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n]\n" if not self.first else "]\n")
        self.stream.flush()


class TableSink:
    """Collects up to TABLE_ROW_LIMIT services and prints them as a table when the scan ends."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.rows: list[dict[str, Any]] = []
        self.dropped = 0

    def add(self, record: dict[str, Any]) -> None:
        if len(self.rows) < TABLE_ROW_LIMIT:
            self.rows.append(public_record(record))
        else:
            self.dropped += 1

    def close(self) -> None:
        if not self.rows:
            return
        table = Table(title="Services found", show_lines=False)
        for col in ("target", "product", "version", "auth", "surfaces", "top finding"):
            table.add_column(col, overflow="fold")
        for r in sorted(self.rows, key=lambda r: (r["product"], r["target"]["host"], r["target"]["port"])):
            t = r["target"]
            surfaces = ", ".join(f"{k}={v}" for k, v in sorted(r["surfaces"].items()))
            top = max(r["findings"], key=lambda f: Severity(f["severity"]).rank, default=None)
            table.add_row(
                f"{t['scheme']}://{t['host']}:{t['port']}",
                r["product"],
                r["version"] or "-",
                r["auth"]["tier"],
                surfaces or "-",
                f"[{top['severity']}] {top['title']}" if top else "-",
            )
        self.console.print(table)
        if self.dropped:
            self.console.print(f"(and {self.dropped} more services; use --format jsonl or the database for all)")
