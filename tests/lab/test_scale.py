"""The scale lab: behaviour is a pure function of (seed, index), 0.0.0.0 is refused outside a loopback-only network
namespace, and inside one (created here with `unshare -n`) two server processes answer as the truth says."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from aisweep.errors import LabError
from aisweep.lab.scale import Mix, ScaleNetwork, address_of, index_of, only_loopback_here, serve_wildcard


def test_every_service_is_a_pure_function_of_seed_and_index() -> None:
    a, b = ScaleNetwork(5000, seed=3), ScaleNetwork(5000, seed=3)
    assert [a.service(i) for i in range(0, 5000, 37)] == [b.service(i) for i in range(0, 5000, 37)]
    assert ScaleNetwork(5000, seed=4).service(10) != a.service(10) or ScaleNetwork(5000, seed=4).service(
        11
    ) != a.service(11)
    for i in (0, 1, 253, 254, 65_000, 4_999):
        assert index_of(address_of(i)) == i
        svc = a.resolve(address_of(i), a.service(i).port) if i < 5000 else None
        assert svc is None or svc.index == i
    assert a.resolve(address_of(10), 1) is None  # another port of that address: nothing listens


def test_the_hostile_mix_has_the_configured_shares() -> None:
    net = ScaleNetwork(20_000, seed=1, mix=Mix(slow=0.02, tarpit=0.01, oversized=0.01, dead=0.02))
    seen = Counter(net.service(i).behaviour for i in range(20_000))
    for name, share in (("slow", 0.02), ("tarpit", 0.01), ("oversized", 0.01), ("dead", 0.02)):
        assert abs(seen[name] / 20_000 - share) < 0.004, (name, seen)


def test_binding_all_addresses_is_refused_outside_a_loopback_only_namespace() -> None:
    if only_loopback_here():
        pytest.skip("this process already runs in a loopback-only namespace")
    with pytest.raises(LabError, match="loopback"):
        asyncio.run(serve_wildcard(ScaleNetwork(10, seed=1)))


SCRIPT = textwrap.dedent(
    """
    import json, signal, subprocess, sys, time
    from pathlib import Path
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    work = Path(sys.argv[1])
    lab = subprocess.Popen([sys.executable, "-m", "aisweep", "lab", "serve", "--services", "60", "--seed", "2",
                            "--hostile", "0", "--processes", "2", "--ready-file", str(work / "ready"),
                            "--targets-file", str(work / "targets.txt")])
    try:
        for _ in range(300):
            if (work / "ready").exists() and (work / "ready").read_text():
                break
            time.sleep(0.1)
        scan = subprocess.run([sys.executable, "-m", "aisweep", "scan", "--from", "list", str(work / "targets.txt"),
                               "--db", str(work / "s.db"), "-f", "jsonl", "-q", "--timeout", "3"],
                              capture_output=True, text=True, timeout=300)
        print(scan.stdout)
        print(scan.stderr, file=sys.stderr)
    finally:
        lab.send_signal(signal.SIGTERM)
        lab.wait(timeout=30)
    """
)


def test_two_server_processes_answer_as_the_truth_says_inside_a_namespace(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("no permission to create a network namespace here")
    script = tmp_path / "inside.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [unshare, "-n", sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = {
        (r["target"]["host"], r["target"]["port"]): r["product"]
        for r in map(json.loads, filter(None, done.stdout.splitlines()))
    }
    net = ScaleNetwork(60, seed=2, mix=Mix(0, 0, 0, 0))
    want = {(s.address, s.port): s.sample.expect["product"] for s in net if s.sample.expect.get("product")}
    assert want and all(found.get(k) == v for k, v in want.items()), (want, found)
