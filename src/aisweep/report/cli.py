"""`aisweep report` and `aisweep diff`: Typer command functions (registered by `aisweep.cli`) and `write_report`,
the plain function behind them that the demo also calls."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aisweep.errors import AisweepError
from aisweep.report.build import Report

err = Console(stderr=True)


class ReportFormat(StrEnum):
    HTML = "html"
    MD = "md"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"
    SARIF = "sarif"


class DiffFormat(StrEnum):
    TEXT = "text"
    MD = "md"
    JSON = "json"


_SUFFIX = {"html": ".html", "md": ".md", "json": ".json", "jsonl": ".jsonl", "sarif": ".sarif"}


def render(report: Report, fmt: ReportFormat | str) -> dict[str, str]:
    """The rendered output(s) of a report: {file name: text} (CSV gives two files, the others one)."""
    fmt = ReportFormat(fmt)
    if fmt is ReportFormat.CSV:
        from aisweep.report.csvfiles import render_csv

        return render_csv(report)
    if fmt is ReportFormat.HTML:
        from aisweep.report.htmlpage import render_html

        text = render_html(report)
    elif fmt is ReportFormat.MD:
        from aisweep.report.markdown import render_markdown

        text = render_markdown(report)
    elif fmt is ReportFormat.JSON:
        from aisweep.report.jsonfiles import render_json

        text = render_json(report)
    elif fmt is ReportFormat.JSONL:
        from aisweep.report.jsonfiles import render_jsonl

        text = render_jsonl(report)
    else:
        from aisweep.report.sarif import render_sarif

        text = render_sarif(report)
    return {f"report{_SUFFIX[fmt.value]}": text}


def write_report(
    db: str,
    run: str | None,
    fmt: ReportFormat | str,
    output: Path | None,
    *,
    anonymize: bool = False,
    anonymize_key: str | None = None,
    geoip: list[Path] | None = None,
) -> list[Path]:
    """Render a stored run and write it; returns the files written ([] when written to standard output).

    `output` None: HTML goes to aisweep-report-<run>.html and CSV to aisweep-report-<run>-{services,findings}.csv in
    the current directory, the other formats to standard output; "-" means standard output."""
    from aisweep.report.csvfiles import csv_paths
    from aisweep.report.load import load_report

    fmt = ReportFormat(fmt)
    report = load_report(
        db,
        run,
        anonymize=anonymize,
        anonymize_key=anonymize_key.encode() if anonymize_key else None,
        geoip=list(geoip or ()),
    )
    outputs = render(report, fmt)
    if output is None and fmt in (ReportFormat.HTML, ReportFormat.CSV):
        output = Path(f"aisweep-report-{report.run_id}" + (".html" if fmt is ReportFormat.HTML else ""))
    if fmt is ReportFormat.CSV:
        if output is None or str(output) == "-":
            raise AisweepError("CSV writes two files (services.csv and findings.csv): give -o DIR or -o STEM")
        paths = csv_paths(output)
        written = []
        for name, text in outputs.items():
            paths[name].parent.mkdir(parents=True, exist_ok=True)
            paths[name].write_text(text, encoding="utf-8", newline="")
            written.append(paths[name])
        return written
    (text,) = outputs.values()
    if output is None or str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return []
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise AisweepError(f"cannot write {output}: {exc.strerror or exc}") from None
    return [output]


def _fail(exc: AisweepError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(2)


def report_command(
    run: Annotated[
        str | None, typer.Argument(help="Run id, a unique prefix of one, 'latest' (default) or 'latest~N'.")
    ] = None,
    fmt: Annotated[
        ReportFormat,
        typer.Option(
            "--format",
            "-f",
            help="html: one self-contained page (charts inline, opens offline). md: Markdown. json: run, survey "
            "and services in one document. jsonl: one service per line. csv: services.csv + findings.csv. "
            "sarif: SARIF 2.1.0 for code-scanning dashboards.",
        ),
    ] = ReportFormat.HTML,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="File to write ('-' = standard output). CSV: a directory, or a stem for STEM-services.csv and "
            "STEM-findings.csv. Default: aisweep-report-<run>.html for HTML and CSV, standard output otherwise.",
        ),
    ] = None,
    db: Annotated[str, typer.Option(help="Results database (SQLite file or database URL).")] = "aisweep.db",
    anonymize: Annotated[
        bool,
        typer.Option(
            "--anonymize",
            help="Replace addresses with keyed hashes (HMAC-SHA256, a random key per report unless --anonymize-key "
            "is given); drop host names, raw responses and secret hashes.",
        ),
    ] = False,
    anonymize_key: Annotated[
        str | None,
        typer.Option(
            "--anonymize-key",
            envvar="AISWEEP_ANONYMIZE_KEY",
            help="Key for --anonymize, so pseudonyms match across reports. Keep it secret.",
        ),
    ] = None,
    geoip: Annotated[
        list[Path] | None,
        typer.Option(
            "--geoip",
            help="MaxMind-format database (GeoLite2/GeoIP2 Country, City or ASN) for country and ASN breakdowns; "
            "repeat to combine a country and an ASN database.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Do not print the files written.")] = False,
) -> None:
    """Write the survey report of a stored run: per-product statistics with intervals, findings with evidence and
    remediation, and the limitations of the run."""
    try:
        written = write_report(
            db, run, fmt, output, anonymize=anonymize or bool(anonymize_key), anonymize_key=anonymize_key, geoip=geoip
        )
    except AisweepError as exc:
        raise _fail(exc) from None
    if not quiet:
        for path in written:
            err.print(f"wrote {path}", highlight=False)


def diff_command(
    run_a: Annotated[str, typer.Argument(help="The earlier run: id, unique prefix, 'latest~1', ...")],
    run_b: Annotated[str, typer.Argument(help="The later run: id, unique prefix, 'latest', ...")],
    db: Annotated[str, typer.Option(help="Results database (SQLite file or database URL).")] = "aisweep.db",
    fmt: Annotated[DiffFormat, typer.Option("--format", "-f", help="text, md or json.")] = DiffFormat.TEXT,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here instead of the terminal.")] = None,
    fail_on_new: Annotated[
        bool, typer.Option("--fail-on-new", help="Exit 1 when the later run has findings the earlier one lacked.")
    ] = False,
) -> None:
    """Compare two runs: services new, gone or changed (by host:port and product) and findings new or fixed (by
    fingerprint)."""
    from aisweep.report.diff import diff_runs, render_diff_json, render_diff_markdown
    from aisweep.report.load import load_run, open_store

    try:
        store = open_store(db)
        try:
            info_a, records_a = load_run(store, run_a)
            info_b, records_b = load_run(store, run_b)
        finally:
            store.close()
        d = diff_runs(str(info_a["id"]), records_a, str(info_b["id"]), records_b)
        if fmt is DiffFormat.TEXT and output is None:
            _print_diff(d)
        else:
            text = render_diff_json(d) if fmt is DiffFormat.JSON else render_diff_markdown(d)
            if output is None or str(output) == "-":
                sys.stdout.write(text)
            else:
                output.write_text(text, encoding="utf-8")
    except AisweepError as exc:
        raise _fail(exc) from None
    except OSError as exc:
        raise _fail(AisweepError(f"cannot write {output}: {exc.strerror or exc}")) from None
    if fail_on_new and d.new_findings:
        raise typer.Exit(1)


def _print_diff(d: object) -> None:
    from aisweep.report.diff import RunDiff

    assert isinstance(d, RunDiff)
    console = Console()
    console.print(
        f"[bold]{d.run_a}[/bold] → [bold]{d.run_b}[/bold]: services {len(d.new_services)} new, "
        f"{len(d.fixed_services)} gone, {len(d.changed_services)} changed, {d.unchanged_services} unchanged; "
        f"findings {len(d.new_findings)} new, {len(d.fixed_findings)} fixed, {d.persisting_findings} persisting",
        highlight=False,
        soft_wrap=True,
    )
    if d.new_services or d.fixed_services or d.changed_services:
        table = Table(title="Services")
        for col in ("", "service", "product", "detail"):
            table.add_column(col, overflow="fold")
        for r in d.new_services:
            table.add_row("[red]+ new[/red]", _key(r), str(r.get("product")), f"{r.get('version') or '-'}")
        for r in d.fixed_services:
            table.add_row("[green]- gone[/green]", _key(r), str(r.get("product")), f"{r.get('version') or '-'}")
        for c in d.changed_services:
            table.add_row(
                "[yellow]~ changed[/yellow]", c.key, c.product, "; ".join(f"{w}: {a} → {b}" for w, a, b in c.changes)
            )
        console.print(table)
    if d.new_findings or d.fixed_findings:
        table = Table(title="Findings")
        for col in ("", "severity", "finding", "service"):
            table.add_column(col, overflow="fold")
        for f in d.new_findings:
            table.add_row("[red]+ new[/red]", str(f["severity"]), str(f["title"]), str(f["service"]))
        for f in d.fixed_findings:
            table.add_row("[green]- fixed[/green]", str(f["severity"]), str(f["title"]), str(f["service"]))
        console.print(table)


def _key(record: dict[str, object]) -> str:
    from aisweep.report.stats import service_key

    return service_key(record)
