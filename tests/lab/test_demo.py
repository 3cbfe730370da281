"""The demo's emulated network: pure-function ground truth, loopback only, and a self-check that can fail."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from aisweep.lab.demo import compare, run_demo
from aisweep.lab.network import LabNetwork
from aisweep.rules.loader import load_rules


def test_truth_is_a_pure_function_of_address() -> None:
    rules = load_rules()
    a = LabNetwork(rules, hosts=50, seed=4, base="127.90.0.1")
    b = LabNetwork(rules, hosts=50, seed=4, base="127.90.0.1")
    assert a.listeners() == b.listeners()
    assert LabNetwork(rules, hosts=50, seed=5, base="127.90.0.1").listeners() != a.listeners()
    assert all(ipaddress.ip_address(h).is_loopback for h, _ in a.listeners())


def test_lab_refuses_non_loopback_addresses() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.0/8"):
        LabNetwork(load_rules(), hosts=10, seed=1, base="10.0.0.1")


def test_compare_catches_mistakes() -> None:
    net = LabNetwork(load_rules(), hosts=30, seed=2, base="127.91.0.1")
    (address, port) = next((a, p) for a, p in net.listeners() if (t := net.truth(a, p)) and t.product)
    truth = net.truth(address, port)
    assert truth is not None
    wrong = {
        "target": {"host": address, "port": port},
        "product": "nonesuch",
        "version": None,
        "auth": {"tier": "open-read"},
    }
    cmp = compare(net, [wrong])
    assert not cmp.ok and any("nonesuch" in p for p in cmp.problems)
    ghost = {"target": {"host": "127.91.0.250", "port": 1}, "product": "x", "version": None, "auth": {"tier": "x"}}
    assert any("nothing was emulated" in p for p in compare(net, [ghost]).problems)


def test_demo_end_to_end(tmp_path: Path) -> None:
    assert run_demo(hosts=80, seed=3, db=str(tmp_path / "demo.db"), quiet=True, base="127.93.0.1")
