"""The command line: `aisweep scan`, `aisweep demo`, `aisweep rules ...`.

Exit codes: 0 finished (no finding at or above --fail-on), 1 findings at or above --fail-on, 2 usage or runtime error.
"""

from __future__ import annotations

import sys
from collections import Counter
from contextlib import ExitStack, closing
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aisweep import __version__
from aisweep.advisories.cli import app as advisories_app
from aisweep.errors import AisweepError
from aisweep.models import Level, Severity
from aisweep.net.probe import HOST_TIMEOUT
from aisweep.output import JsonArraySink, JsonlSink, TableSink
from aisweep.report.cli import diff_command, report_command
from aisweep.rules.rounds import WIDEN
from aisweep.runner import ResultSink, ScanSettings, ScanStats, run_scan
from aisweep.targets.exclude import ExclusionList
from aisweep.targets.expand import PairTable
from aisweep.targets.parse import parse_targets
from aisweep.targets.ports import parse_ports

app = typer.Typer(
    name="aisweep",
    help="Find and measure exposed self-hosted AI services, safely. Non-intrusive by default: GET/HEAD to documented "
    "read-only endpoints only. Scan only networks you are authorised to scan.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="List, show, validate and test fingerprint rules.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
lab_app = typer.Typer(help="The emulated network of AI services (loopback only).", no_args_is_help=True)
app.add_typer(lab_app, name="lab")
app.add_typer(advisories_app, name="advisories", help="Offline OSV advisory data: status, show, update.")
app.command("report", help="Survey report of a stored run: html, md, json, jsonl, csv or sarif.")(report_command)
app.command("diff", help="What changed between two stored runs: new, fixed and changed services and findings.")(
    diff_command
)

err = Console(stderr=True)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSONL = "jsonl"
    JSON = "json"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"aisweep {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """aisweep: an internet-scale, non-intrusive scanner for exposed AI infrastructure."""


def _parse_widen(value: str) -> int | None:
    if value.strip().lower() == "all":
        return None
    try:
        n = int(value)
    except ValueError:
        raise AisweepError(f"--widen takes a number or 'all', not {value!r}") from None
    if n < 0:
        raise AisweepError("--widen cannot be negative")
    return n


class _StoreSink:
    def __init__(self, store: Any, run_id: str) -> None:
        self.store, self.run_id = store, run_id
        self.severities: Counter[str] = Counter()
        self.products: Counter[str] = Counter()
        self.tiers: Counter[str] = Counter()

        self.checkpoints: dict[str, Any] = {}

    def add(self, record: dict[str, Any]) -> None:
        if self.store.add_service(self.run_id, record) is None:
            return  # already stored by the interrupted run being resumed
        self.products[record["product"]] += 1
        self.tiers[record["auth"]["tier"]] += 1
        for f in record["findings"]:
            self.severities[f["severity"]] += 1

    def checkpoint(self, worker: int, state: dict[str, Any], stats: ScanStats) -> None:
        self.checkpoints[str(worker)] = state
        self.store.save_checkpoint(self.run_id, self.checkpoints, stats.to_dict())


def execute_scan(
    targets: list[str],
    settings: ScanSettings,
    *,
    exclude: Path | None,
    output: Path | None,
    fmt: OutputFormat,
    db: str,
    quiet: bool,
    command: str = "scan",
    console: Console | None = None,
    resume: str | None = None,
) -> tuple[str, ScanStats, _StoreSink]:
    """Parse, scan, stream to the store and the chosen output; returns (run id, stats, store summary).

    With `resume`, the interrupted run's targets, settings, counters and checkpoint are taken from the store and
    the run continues under the same id."""
    from aisweep.store.db import Store

    out_console = console or Console()
    resume_state: dict[str, Any] | None = None
    stats = ScanStats()
    if resume is not None:
        with closing(Store(db)) as reader:
            info = reader.run_info(resume)
        if info is None:
            raise AisweepError(f"no run {resume!r} in {db}")
        if info["status"] == "finished":
            raise AisweepError(f"run {resume} already finished; nothing to resume")
        targets = list(info["targets"])
        settings = ScanSettings.from_dict(info["settings"])
        exclude = Path(info["settings"]["exclude"]) if info["settings"].get("exclude") else None
        resume_state = info.get("checkpoint") or {}
        stats = ScanStats.from_dict(info.get("counters") or {})
    settings.exclude = str(exclude) if exclude else None
    pairs: PairTable | None = None
    if settings.import_format:
        pairs = load_imports(settings.import_format, targets, settings.ports)
        specs: list[Any] = []
    else:
        specs = parse_targets(targets)  # every token is checked before anything is sent (or stored)
    exclusions = ExclusionList.from_file(exclude) if exclude else ExclusionList()
    store = Store(db)
    if resume is not None:
        run_id = resume
        store.reopen_run(run_id)
    else:
        settings.advisory_data = _advisory_line()
        run_id = store.start_run(command, targets, settings.to_dict())
    store_sink = _StoreSink(store, run_id)
    if resume_state:
        store_sink.checkpoints = dict(resume_state)

    def started(final: ScanSettings) -> None:
        store.update_settings(run_id, final.to_dict())  # the seed and worker count a resume must reuse

    sinks: list[ResultSink] = [store_sink]
    closers: list[Any] = []
    with ExitStack() as stack:
        stream: IO[str] | None = None
        if output is not None:
            stream = stack.enter_context(output.open("a" if resume else "w", encoding="utf-8"))
        elif fmt is not OutputFormat.TABLE:
            stream = sys.stdout
        if fmt is OutputFormat.JSONL and stream is not None:
            jsonl = JsonlSink(stream)
            sinks.append(jsonl)
            closers.append(jsonl)
        elif fmt is OutputFormat.JSON and stream is not None:
            arr = JsonArraySink(stream)
            sinks.append(arr)
            closers.append(arr)
        table = TableSink(out_console) if fmt is OutputFormat.TABLE and not quiet else None
        if table is not None:
            sinks.append(table)
        show_progress = not quiet and err.is_terminal
        status = "finished"
        try:
            if show_progress:
                with Progress(
                    TextColumn("[bold]scanning"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("targets · {task.fields[services]} services · {task.fields[rate]:.0f}/s"),
                    TimeElapsedColumn(),
                    console=err,
                    transient=True,
                ) as progress:
                    task = progress.add_task("scan", total=None, services=0, rate=0.0)

                    def update(s: ScanStats) -> None:
                        rate = s.targets_done / s.elapsed if s.elapsed > 0 else 0.0
                        progress.update(
                            task, total=s.targets_total, completed=s.targets_done, services=s.services, rate=rate
                        )

                    stats = run_scan(
                        specs, settings, exclusions, sinks, update, stats, store_sink, resume_state, started, pairs
                    )
            else:
                stats = run_scan(
                    specs, settings, exclusions, sinks, None, stats, store_sink, resume_state, started, pairs
                )
            if stats.interrupted:
                status = "interrupted"
        except KeyboardInterrupt:
            stats.interrupted, status = True, "interrupted"
        except BaseException:
            store.finish_run(run_id, stats.to_dict(), "failed")
            store.close()
            raise
        finally:
            for c in closers:
                c.close()
        store.finish_run(run_id, stats.to_dict(), status)
        store.close()
        if table is not None:
            table.close()
    return run_id, stats, store_sink


def _check_ignore_file(path: Path | None) -> list[str]:
    """Validate the ignore file before scanning; returns notes about expired entries."""
    if path is None:
        return []
    from datetime import UTC, datetime

    from aisweep.advisories import load_ignore_file

    ignores = load_ignore_file(path)
    today = datetime.now(UTC).date()
    return [f"expired ignore entry (suppresses nothing): {e.describe()}" for e in ignores.expired(today)]


def load_imports(kind: str, files: list[str], ports: tuple[int, ...]) -> PairTable:
    """Candidates from other tools' output; entries without a port take the scan's port list."""
    from aisweep.targets.importers import import_pairs

    if not files:
        raise AisweepError(f"--from {kind} needs the file(s) to import as arguments")
    table = PairTable()
    for name in files:
        for address, port in import_pairs(kind, Path(name)):
            for p in (port,) if port else ports:
                table.add(address, p)
    if not len(table):
        raise AisweepError(f"no open TCP ports found in {', '.join(files)}")
    table.freeze()  # once, here: workers receive the packed arrays
    return table


def _advisory_line() -> str | None:
    """The advisory dataset a new run uses, for its settings (None when the data cannot be read: the check says so
    in its findings)."""
    from aisweep.advisories.database import AdvisoryDataError, data_status

    try:
        return data_status().line()
    except AdvisoryDataError:
        return None


def print_summary(console: Console, run_id: str, stats: ScanStats, summary: _StoreSink, db: str) -> None:
    rate = stats.targets_done / stats.elapsed if stats.elapsed else 0.0
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items(), key=lambda kv: -kv[1]))
    console.print(
        f"[bold]{stats.services}[/bold] services on {stats.targets_done:,}/{stats.targets_total:,} targets in "
        f"{stats.elapsed:.1f}s ({rate:,.0f} targets/s, {stats.requests:,} requests)"
        + (" [yellow](interrupted)[/yellow]" if stats.interrupted else "")
    )
    if outcomes:
        console.print(f"outcomes: {outcomes}")
    if stats.budget_spent:
        console.print(
            f"{stats.budget_spent:,} targets ran out of their time budget (--host-timeout) and were concluded on "
            "what they had answered"
        )
    if summary.products:
        console.print("products: " + ", ".join(f"{p} {n}" for p, n in summary.products.most_common()))
    if summary.severities:
        order = sorted(summary.severities, key=lambda s: -Severity(s).rank)
        console.print("findings: " + ", ".join(f"{s} {summary.severities[s]}" for s in order))
    console.print(f"run [bold]{run_id}[/bold] stored in {db}")


def _parse_host_timeout(value: float) -> float | None:
    if value < 0 or value != value:  # NaN
        raise AisweepError(f"--host-timeout must be 0 (no limit) or a number of seconds, not {value}")
    return value or None


def _fail(exc: AisweepError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True, soft_wrap=True)  # one line, never wrapped
    return typer.Exit(2)


@app.command()
def scan(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Addresses, CIDRs (10.0.0.0/24), ranges (10.0.0.1-20), host names, host:port, URLs, @file, - (stdin)."
        ),
    ] = None,
    ports: Annotated[
        str,
        typer.Option("-p", "--ports", help="'ai' (AI services' default ports), 'top', or a list like 80,8000-8100."),
    ] = "ai",
    level: Annotated[Level, typer.Option(help="safe: GET/HEAD only. handshake: adds state-free handshakes.")] = (
        Level.SAFE
    ),
    rate: Annotated[float | None, typer.Option(help="Max new targets per second (all workers).")] = None,
    concurrency: Annotated[int, typer.Option(help="Targets in flight at once (all workers).")] = 1024,
    per_host: Annotated[int, typer.Option(help="Max targets of one host in flight.")] = 4,
    timeout: Annotated[float, typer.Option(help="Connect and read timeout, seconds.")] = 5.0,
    exclude: Annotated[
        Path | None, typer.Option(help="File of addresses/CIDRs/names never to contact.", exists=False)
    ] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write results here.")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
    db: Annotated[str, typer.Option(help="SQLite file or database URL for the results.")] = "aisweep.db",
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: one per core for big scans).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the target order (default: random, stored).")] = None,
    rules: Annotated[list[Path] | None, typer.Option("--rules", help="Extra rule file or directory.")] = None,
    max_body: Annotated[int, typer.Option(help="Max bytes read per response.")] = 1024 * 1024,
    widen: Annotated[
        str,
        typer.Option(
            help="When an answer matches none of its port's products: after the products it names, how many more "
            "identify probes of other products to send (a number, or 'all').",
        ),
    ] = str(WIDEN),
    host_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds one target may take in all; past it nothing more is sent and the target is concluded on "
            "what it answered (0: no limit).",
        ),
    ] = HOST_TIMEOUT,
    fail_on: Annotated[Severity | None, typer.Option(help="Exit 1 if a finding is at or above this.")] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar or summary.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="More detail in the summary.")] = False,
    resume: Annotated[
        str | None, typer.Option(help="Continue an interrupted run (same targets and settings) without rescanning.")
    ] = None,
    ignore: Annotated[
        Path | None,
        typer.Option(help="Ignore file: entries with id, scope, reason and expiry; expired entries are reported."),
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Treat TARGETs as files of another tool's output and re-verify each candidate live: masscan "
            "(-oJ/-oL/-oX), zmap (CSV), nmap (XML), shodan (JSON), censys (JSON), list (ADDRESS:PORT lines).",
        ),
    ] = None,
) -> None:
    """Scan targets for exposed AI services and store every result."""
    try:
        if not targets and resume is None:
            raise AisweepError("no targets given (or use --resume RUN)")
        from aisweep.rules.loader import load_rules

        rule_ports = tuple({p for r in load_rules(rules) for p in (r.ports or ())})
        settings = ScanSettings(
            ports=parse_ports(ports, rule_ports),
            level=level,
            rate=rate,
            concurrency=concurrency,
            per_host=per_host,
            connect_timeout=timeout,
            read_timeout=max(timeout, 1.0) * 2,
            max_body=max_body,
            widen=_parse_widen(widen),
            host_timeout=_parse_host_timeout(host_timeout),
            workers=workers,
            seed=seed,
            rule_dirs=tuple(rules or ()),
            origin=f"import:{from_}" if from_ else "cli",
            import_format=from_,
            ignore_file=str(ignore) if ignore else None,
        )
        ignore_notes = _check_ignore_file(ignore)
        if exclude is not None and not exclude.exists():
            raise AisweepError(f"exclusion list {exclude} does not exist")
        console = Console(stderr=fmt is not OutputFormat.TABLE and output is None)
        run_id, stats, summary = execute_scan(
            targets or [],
            settings,
            exclude=exclude,
            output=output,
            fmt=fmt,
            db=db,
            quiet=quiet,
            console=console,
            resume=resume,
        )
    except AisweepError as exc:
        raise _fail(exc) from None
    if not quiet:
        print_summary(
            Console(stderr=True) if output is None and fmt is not OutputFormat.TABLE else console,
            run_id,
            stats,
            summary,
            db,
        )
        for note in ignore_notes:
            err.print(f"[yellow]{note}[/yellow]", highlight=False, soft_wrap=True)
        if stats.suppressed:
            err.print(f"{stats.suppressed} findings suppressed by {ignore}", highlight=False, soft_wrap=True)
    if fail_on is not None and any(Severity(s).rank >= fail_on.rank for s in summary.severities):
        raise typer.Exit(1)


@app.command()
def demo(
    hosts: Annotated[int, typer.Option(help="Emulated hosts (each on its own 127.x.y.z address).")] = 160,
    seed: Annotated[int, typer.Option(help="Seed of the emulated network.")] = 7,
    db: Annotated[str, typer.Option(help="Results database.")] = "aisweep-demo.db",
    report: Annotated[Path, typer.Option(help="Where the HTML survey report is written.")] = Path(
        "aisweep-demo-report.html"
    ),
    quiet: Annotated[bool, typer.Option("-q", "--quiet")] = False,
) -> None:
    """Start an emulated network of AI services on loopback, scan it, check the result against ground truth, and
    write the survey report."""
    from aisweep.lab.demo import run_demo

    try:
        ok = run_demo(hosts=hosts, seed=seed, db=db, quiet=quiet, report=report)
    except AisweepError as exc:
        raise _fail(exc) from None
    if not ok:
        raise typer.Exit(1)


@lab_app.command("serve")
def lab_serve(
    hosts: Annotated[int, typer.Option(help="Demo mode: hosts, each on its own 127.77.x.y address.")] = 160,
    services: Annotated[
        int | None,
        typer.Option(
            help="Scale mode: services on 127.16.0.0 and up, one 0.0.0.0 socket per port (only inside a "
            "loopback-only network namespace, e.g. `unshare -n`)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the emulated network.")] = 7,
    hostile: Annotated[float, typer.Option(help="Scale mode: share of slow/tarpit/oversized/dead hosts.")] = 0.05,
    ready_file: Annotated[Path | None, typer.Option(help="Scale mode: written once listening.")] = None,
    targets_file: Annotated[Path | None, typer.Option(help="Write the emulated ADDRESS:PORT list here.")] = None,
    processes: Annotated[int, typer.Option(help="Scale mode: server processes sharing each port.")] = 1,
) -> None:
    """Serve the emulated network until interrupted."""
    import time

    try:
        if services is not None:
            from aisweep.lab.scale import Mix, ScaleNetwork, serve_scale

            part = hostile / 5
            network = ScaleNetwork(services, seed, Mix(slow=part, tarpit=part, oversized=part, dead=2 * part))
            if targets_file is not None:
                with targets_file.open("w") as fh:
                    for svc in network:
                        fh.write(f"{svc.address}:{svc.port}\n")
            serve_scale(network, ready_file, processes)
            return
        from aisweep.lab.demo import RunningLab

        with RunningLab(hosts, seed) as lab:
            if targets_file is not None:
                targets_file.write_text("".join(f"{a}:{p}\n" for a, p in lab.network.listeners()))
            typer.echo(f"{lab.listening} emulated services on {lab.network.cidr()}; Ctrl-C to stop")
            while lab.process.is_alive():
                time.sleep(1)
    except AisweepError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        pass


@rules_app.command("list")
def rules_list(
    rules: Annotated[list[Path] | None, typer.Option("--rules", help="Extra rule file or directory.")] = None,
) -> None:
    """List the fingerprint rules."""
    from aisweep.rules.loader import load_rules

    try:
        loaded = load_rules(rules)
    except AisweepError as exc:
        raise _fail(exc) from None
    table = Table(title=f"{len(loaded)} rules")
    for col in ("id", "name", "category", "ports", "version", "auth tiers", "surfaces"):
        table.add_column(col)
    for r in sorted(loaded, key=lambda r: r.id):
        table.add_row(
            r.id,
            r.name,
            r.category,
            "any" if r.ports is None else ",".join(str(p) for p in sorted(r.ports)),
            "yes" if r.version else "-",
            ", ".join(sorted({t.tier.value for t in r.tiers})) or "-",
            ", ".join(sorted(r.surfaces)) or "-",
        )
    Console().print(table)


@rules_app.command("show")
def rules_show(
    rule_id: Annotated[str, typer.Argument(help="Rule id, e.g. ollama.")],
    rules: Annotated[list[Path] | None, typer.Option("--rules", help="Extra rule file or directory.")] = None,
) -> None:
    """Print a rule file."""
    from aisweep.rules.loader import load_rules

    try:
        by_id = {r.id: r for r in load_rules(rules)}
    except AisweepError as exc:
        raise _fail(exc) from None
    if rule_id not in by_id:
        raise _fail(AisweepError(f"no rule {rule_id!r}; `aisweep rules list` shows them"))
    typer.echo(Path(by_id[rule_id].source).read_text(encoding="utf-8"))


@rules_app.command("validate")
def rules_validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Rule files or directories (default: built-in).")] = None,
) -> None:
    """Validate rule files against the schema; errors name the file and line."""
    from aisweep.rules.loader import load_rules

    try:
        loaded = load_rules(paths, include_builtin=not paths)
    except AisweepError as exc:
        raise _fail(exc) from None
    typer.echo(f"{len(loaded)} rules valid")


@rules_app.command("test")
def rules_test(
    rules: Annotated[list[Path] | None, typer.Option("--rules", help="Extra rule file or directory.")] = None,
) -> None:
    """Replay every rule sample and check the expected product, version, auth tier and surfaces."""
    from aisweep.rules.loader import load_rules
    from aisweep.rules.samples import check_sample, load_samples

    try:
        loaded = load_rules(rules)
        samples = load_samples()
    except AisweepError as exc:
        raise _fail(exc) from None
    failures = 0
    for sample in samples:
        problems = check_sample(sample, loaded)
        if problems:
            failures += 1
            err.print(f"[red]FAIL[/red] {sample.rule_dir}/{sample.case}: " + "; ".join(problems), highlight=False)
    typer.echo(f"{len(samples) - failures} passed, {failures} failed")
    if failures:
        raise typer.Exit(1)


@rules_app.command("coverage")
def rules_coverage(
    rules: Annotated[list[Path] | None, typer.Option("--rules", help="Extra rule file or directory.")] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print a Markdown table (for docs/coverage.md).")
    ] = False,
) -> None:
    """The product table: version extraction, auth tiers, surfaces and samples (positive, negative, recorded)."""
    from aisweep.rules.coverage import coverage_rows, render_markdown

    try:
        rows = coverage_rows(rules)
    except AisweepError as exc:
        raise _fail(exc) from None
    if markdown:
        typer.echo(render_markdown(rows))
        return
    table = Table(title=f"{len(rows)} products")
    for col in ("id", "category", "version", "auth tiers", "surfaces", "positive", "negative", "recorded"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.id,
            r.category,
            "yes" if r.version else "-",
            ", ".join(r.tiers) or "-",
            ", ".join(r.surfaces) or "-",
            str(r.positive),
            str(r.negative),
            str(r.recorded),
        )
    Console().print(table)
    missing = [r.id for r in rows if not r.positive or not r.negative]
    if missing:
        err.print(f"rules without a positive and a negative sample: {', '.join(missing)}", soft_wrap=True)
        raise typer.Exit(1)


def main() -> None:
    app()
