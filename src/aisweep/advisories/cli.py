"""`aisweep advisories update|status|show ID`: the offline advisory data, its age, and one vulnerability in full."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from aisweep.advisories.database import AdvisoryGroup, load_database
from aisweep.advisories.update import DEFAULT_KEV_URL, DEFAULT_OSV_URL, update_database
from aisweep.errors import AisweepError

app = typer.Typer(
    help="Offline vulnerability advisories (OSV schema): refresh them, see how old they are, show one.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(exc: AisweepError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
    return typer.Exit(2)


@app.command()
def update(
    osv_url: Annotated[
        str | None,
        typer.Option(help=f"OSV API base URL (default ${{AISWEEP_OSV_URL}} or {DEFAULT_OSV_URL}).", show_default=False),
    ] = None,
    kev_url: Annotated[
        str | None,
        typer.Option(
            help=f"CISA KEV JSON feed (default ${{AISWEEP_KEV_URL}} or {DEFAULT_KEV_URL}).", show_default=False
        ),
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option(help="Where to write (default $AISWEEP_ADVISORIES_DIR or ~/.cache/aisweep/advisories)."),
    ] = None,
    no_kev: Annotated[bool, typer.Option("--no-kev", help="Do not refresh the CISA KEV subset.")] = False,
) -> None:
    """Download current advisories for every product aisweep maps, from OSV (batch query, then each record).

    Ranges are re-checked locally at scan time. If anything fails, nothing is written and the previous data (or the
    copy shipped with aisweep) stays in use."""
    try:
        result = update_database(osv_url=osv_url, kev_url=kev_url, directory=directory, refresh_kev=not no_kev)
    except AisweepError as exc:
        before = load_database().status
        err.print(f"[yellow]still using:[/yellow] {before.line()}", markup=True, highlight=False)
        raise _fail(exc) from None
    for line in result.lines():
        out.print(line, highlight=False)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Which advisory data is in use, its date and age, its sources, and the advisories per product."""
    try:
        db = load_database()
    except AisweepError as exc:
        raise _fail(exc) from None
    st = db.status
    per_product = {pid: len(db.for_product(pid)) for pid in sorted(db.products)}
    kev = {pid: sum(1 for g in db.for_product(pid) if g.kev) for pid in sorted(db.products)}
    if as_json:
        typer.echo(json.dumps({**st.to_dict(), "products": per_product, "kev": kev}, indent=2))
        return
    out.print(st.line(), highlight=False)
    out.print(f"Data directory: {st.path}", highlight=False)
    for pid, n in per_product.items():
        extra = f" ({kev[pid]} known exploited)" if kev[pid] else ""
        out.print(f"  {pid:<22} {n:>4} advisories{extra}", highlight=False)


def _show(group: AdvisoryGroup) -> None:
    rating = group.rating
    out.print(f"[bold]{group.primary}[/bold]  {group.summary}", highlight=False)
    if group.aliases:
        out.print(f"aliases: {', '.join(group.aliases)}", highlight=False)
    out.print(
        f"severity: {rating.severity.value if rating.severity else 'not rated'} ({rating.basis})"
        + (f" {rating.vector}" if rating.vector and rating.vector not in rating.basis else ""),
        highlight=False,
    )
    if group.kev:
        out.print(f"known exploited (CISA KEV): added {group.kev.date_added}: {group.kev.name}", highlight=False)
    for rec in group.records:
        out.print(f"\n[bold]{rec.id}[/bold] (source: {rec.source or 'unknown'})", highlight=False)
        if rec.published:
            out.print(f"  published {rec.published[:10]}, modified {rec.modified[:10]}", highlight=False)
        for a in rec.affected:
            for r in a.ranges:
                events = ", ".join(f"{e.kind} {e.version}" for e in r.events)
                out.print(f"  {a.ecosystem} {a.name} [{r.type}]: {events}", highlight=False)
            if a.versions and not a.ranges:
                out.print(f"  {a.ecosystem} {a.name}: versions {', '.join(a.versions[:20])}", highlight=False)
    if group.references:
        out.print("\nreferences:", highlight=False)
        for url in group.references[:12]:
            out.print(f"  {url}", highlight=False)


@app.command()
def show(
    advisory_id: Annotated[
        str, typer.Argument(metavar="ID", help="CVE, GHSA, PYSEC or GO id, or a vuln.<id> finding.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the OSV records as JSON.")] = False,
) -> None:
    """One vulnerability: every record and alias, ranges, fixed versions, severity, KEV status and references."""
    try:
        db = load_database()
    except AisweepError as exc:
        raise _fail(exc) from None
    group = db.find(advisory_id)
    if group is None:
        err.print(f"error: no advisory {advisory_id!r} in the data ({db.status.line()})", highlight=False)
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps([dict(r.raw) for r in group.records], indent=2))
        return
    _show(group)
