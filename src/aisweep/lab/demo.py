"""`aisweep demo`: serve an emulated network on loopback, scan it, and check the result against ground truth."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import signal
import ssl
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from aisweep.errors import LabError
from aisweep.lab.network import LabNetwork
from aisweep.lab.plants import PlantedSample, make_certificates, planted_key
from aisweep.lab.server import SampleServerProtocol
from aisweep.rules.loader import load_rules
from aisweep.targets.ports import AI_PORTS


async def _serve(network: LabNetwork, ready: Any) -> None:
    loop = asyncio.get_running_loop()

    def resolver(address: str, port: int) -> Any:
        truth = network.truth(address, port)
        if truth is None:
            return None
        if truth.plant and not truth.tls:
            return PlantedSample(truth.sample, truth.plant, planted_key(network.seed, address))
        return truth.sample

    contexts: dict[str, ssl.SSLContext] = {}
    with tempfile.TemporaryDirectory(prefix="aisweep-lab-") as scratch:  # loaded into the contexts, then removed
        for name, (cert, key) in make_certificates(Path(scratch)).items():
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            contexts[name] = ctx
    servers = []
    try:
        for address, port in network.listeners():
            truth = network.truth(address, port)
            tls = contexts.get(truth.plant or "") if truth is not None else None
            servers.append(
                await loop.create_server(lambda: SampleServerProtocol(resolver), address, port, backlog=512, ssl=tls)
            )
    except OSError as exc:
        ready.send(f"cannot listen on {address}:{port}: {exc.strerror}")
        return
    ready.send(f"ok {len(servers)}")
    await asyncio.Event().wait()


def lab_process(hosts: int, seed: int, base: str, ready: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    network = LabNetwork(load_rules(), hosts=hosts, seed=seed, base=base)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover
        runner = asyncio.Runner()
    with runner:
        runner.run(_serve(network, ready))


class RunningLab:
    """The lab in a child process (its own core), listening on each emulated host's own 127.x.y.z address."""

    def __init__(self, hosts: int, seed: int, base: str = "127.77.0.1") -> None:
        self.network = LabNetwork(load_rules(), hosts=hosts, seed=seed, base=base)
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=lab_process, args=(hosts, seed, base, child), daemon=True)
        self.process.start()
        if not parent.poll(60):
            self.stop()
            raise LabError("the emulated network did not start within 60 s")
        message = parent.recv()
        if not str(message).startswith("ok"):
            self.stop()
            raise LabError(f"the emulated network failed to start: {message}")
        self.listening = int(str(message).split()[1])

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=5)

    def __enter__(self) -> RunningLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(slots=True)
class Comparison:
    """A scan's result set against the lab's ground truth."""

    expected: int = 0
    correct: int = 0
    planted: int = 0
    problems: list[str] = field(default_factory=list)
    per_product: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


# Finding families that only planted cases may produce in the demo network (a recorded real sample never leaks a
# key, carries an indicator, uses bad TLS or behaves like a honeypot); CORS is left out because some products send
# permissive CORS headers by default.
_PLANT_ONLY = ("secret.", "indicator.", "tls.self-signed", "tls.expired")


def _planted_problems(truth: Any, record: dict[str, Any]) -> list[str]:
    ids = {f["id"] for f in record.get("findings", [])}
    likely = bool((record.get("honeypot") or {}).get("likely"))
    want = truth.expected_finding
    problems = []
    if want == "honeypot.likely":
        if not likely:
            problems.append("planted honeypot not flagged")
    elif want is not None and want not in ids:
        problems.append(f"planted {truth.plant} but no {want}")
    if truth.tls and record["target"].get("scheme") != "https":
        problems.append("TLS service not reported as https")
    allowed = ("tls.",) if truth.tls else ()  # an expired lab certificate is self-signed too
    unexpected = sorted(i for i in ids if i.startswith(_PLANT_ONLY) and i != want and not i.startswith(allowed))
    if unexpected:
        problems.append("unplanted " + ", ".join(unexpected))
    if likely and want != "honeypot.likely":
        problems.append("flagged as honeypot without a plant")
    return problems


def compare(network: LabNetwork, records: list[dict[str, Any]]) -> Comparison:
    found = {(r["target"]["host"], r["target"]["port"]): r for r in records}
    cmp = Comparison()
    for address, port in network.listeners():
        truth = network.truth(address, port)
        assert truth is not None
        record = found.pop((address, port), None)
        product = truth.product
        stats = cmp.per_product.setdefault(product or "(none)", Counter())
        where = f"{address}:{port} ({truth.sample.case})"
        if product is None:
            # A look-alike that names what it must not be (not_product) is only wrong as that product; a sample
            # with no expectation at all (catch-alls, plain web servers) must not be identified as anything.
            banned = truth.sample.expect.get("not_product")
            if record is not None and (banned is None or record["product"] == banned):
                cmp.problems.append(f"{where}: false positive {record['product']}")
                stats["false"] += 1
            continue
        cmp.expected += 1
        stats["expected"] += 1
        if record is None:
            cmp.problems.append(f"{where}: {product} not found")
            continue
        errors = []
        if record["product"] != product:
            errors.append(f"product {record['product']} (expected {product})")
        if truth.version is not None and record["version"] != truth.version:
            errors.append(f"version {record['version']} (expected {truth.version})")
        if truth.auth is not None and record["auth"]["tier"] != truth.auth:
            errors.append(f"auth {record['auth']['tier']} (expected {truth.auth})")
        errors += _planted_problems(truth, record)
        if errors:
            cmp.problems.append(f"{where}: " + ", ".join(errors))
        else:
            cmp.correct += 1
            stats["correct"] += 1
        if truth.plant:
            cmp.planted += 1
    for (address, port), record in found.items():
        cmp.problems.append(f"{address}:{port}: {record['product']} reported where nothing was emulated")
    return cmp


def run_demo(
    hosts: int = 160,
    seed: int = 7,
    db: str = "aisweep-demo.db",
    quiet: bool = False,
    base: str = "127.77.0.1",
    report: Path | None = None,
) -> bool:
    from aisweep.cli import OutputFormat, execute_scan, print_summary
    from aisweep.runner import ScanSettings
    from aisweep.store.db import Store

    console = Console()
    with RunningLab(hosts, seed, base) as lab:
        network = lab.network
        cidr = network.cidr()
        ports = tuple(dict.fromkeys([*AI_PORTS, *sorted({p for _, p in network.listeners()})]))
        if not quiet:
            console.print(
                f"[bold]aisweep demo[/bold]: {lab.listening} emulated services on {hosts} loopback hosts "
                f"({cidr}), replaying recorded responses of real products; scanning {len(ports)} ports per address"
            )
        settings = ScanSettings(ports=ports, seed=seed, connect_timeout=5.0, read_timeout=10.0, origin="demo")
        run_id, stats, summary = execute_scan(
            [cidr], settings, exclude=None, output=None, fmt=OutputFormat.TABLE, db=db, quiet=True, command="demo"
        )
    store = Store(db)
    records = list(store.service_records(run_id))
    store.close()
    cmp = compare(network, records)
    if not quiet:
        print_summary(console, run_id, stats, summary, db)
        table = Table(title="Ground truth check (per product)")
        for col in ("product", "emulated", "identified right"):
            table.add_column(col)
        for product, c in sorted(cmp.per_product.items()):
            if product == "(none)":
                table.add_row("look-alikes (must not match)", str(sum(c.values()) or "-"), f"{c['false']} false")
            else:
                table.add_row(product, str(c["expected"]), str(c["correct"]))
        console.print(table)
        verdict = "[green]PASS[/green]" if cmp.ok else "[red]FAIL[/red]"
        console.print(
            f"{verdict}: {cmp.correct}/{cmp.expected} emulated services identified with the right product, version "
            f"and auth tier, and every planted case ({cmp.planted}: TLS, leaked key, CORS, honeypot, indicator) "
            f"reported with no false ones; {len(cmp.problems)} problems"
        )
        for problem in cmp.problems[:20]:
            console.print(f"  - {problem}", highlight=False)
        console.print(f"Results: run {run_id} in {db}")
    if report is not None:
        from aisweep.report.cli import write_report

        written = write_report(db, run_id, "html", report)
        if not quiet:
            console.print(
                f"Report: {', '.join(str(p) for p in written)} (self-contained HTML; also "
                f"`aisweep report {run_id} --db {db} -f md|json|csv|sarif`)"
            )
    return cmp.ok
