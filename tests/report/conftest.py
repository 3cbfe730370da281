"""Fixtures for the report tests: the demo's own emulated network (same hosts, seed and base as `aisweep demo`),
scanned once per session into a fresh database, and its ground truth computed from the lab's pure functions."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from aisweep.errors import LabError
from aisweep.lab.network import LabNetwork
from aisweep.report.build import Report
from aisweep.rules.loader import load_rules

DEMO_HOSTS, DEMO_SEED, DEMO_BASE = 160, 7, "127.77.0.1"  # `aisweep demo` defaults


@dataclass(frozen=True)
class DemoRun:
    db: Path
    run_id: str
    network: LabNetwork


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    from aisweep.lab.demo import run_demo
    from aisweep.store.db import Store

    db = tmp_path_factory.mktemp("demo") / "demo.db"
    for attempt in range(4):  # another demo on this machine may hold 127.77.x.y for a few seconds
        try:
            run_demo(hosts=DEMO_HOSTS, seed=DEMO_SEED, db=str(db), quiet=True)  # its truth check is tests/lab's job
            break
        except LabError as exc:
            if "already in use" not in str(exc) or attempt == 3:
                raise
            time.sleep(10)
    store = Store(str(db))
    run_id = store.latest_run()
    store.close()
    assert run_id is not None
    return DemoRun(db, run_id, LabNetwork(load_rules(), hosts=DEMO_HOSTS, seed=DEMO_SEED, base=DEMO_BASE))


@pytest.fixture(scope="session")
def demo_report(demo_run: DemoRun) -> Report:
    from aisweep.report.load import load_report

    return load_report(str(demo_run.db), demo_run.run_id)
