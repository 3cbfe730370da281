"""OSV range semantics: introduced inclusive, fixed exclusive, last_affected inclusive, "0" first, limit caps; ranges
with unreadable event versions are undecidable, never "affected"."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aisweep.advisories.osv import (
    Affected,
    Event,
    Range,
    RangeVerdict,
    cvss3_base_score,
    evaluate_affected,
    evaluate_range,
    severity_from_score,
)
from aisweep.advisories.versions import Scheme, parse
from aisweep.models import Severity


def rng(*events: tuple[str, str], kind: str = "ECOSYSTEM") -> Range:
    return Range(kind, tuple(Event(k, v) for k, v in events))


def inside(r: Range, version: str, scheme: Scheme = Scheme.PEP440) -> bool | None:
    v = parse(scheme, version)
    assert v is not None
    result = evaluate_range(r, v, scheme)
    return None if result is None else isinstance(result, RangeVerdict)


def test_introduced_inclusive_fixed_exclusive() -> None:
    r = rng(("introduced", "1.0"), ("fixed", "2.2.1"))
    assert inside(r, "1.0")
    assert inside(r, "2.2.0")
    assert inside(r, "2.2.1rc1")  # a pre-release of the fix is still before it
    assert not inside(r, "2.2.1")
    assert not inside(r, "2.2.1.post1")
    assert not inside(r, "0.9")


def test_zero_means_from_the_first_release() -> None:
    r = rng(("introduced", "0"), ("fixed", "1.23.1"))
    assert inside(r, "0.0.1")
    assert inside(r, "0.1.0.dev0")
    assert not inside(r, "1.23.1")


def test_last_affected_inclusive() -> None:
    r = rng(("introduced", "0.2.30"), ("last_affected", "0.2.71"))
    assert inside(r, "0.2.71")
    assert not inside(r, "0.2.72")
    assert not inside(r, "0.2.29")


def test_several_introduced_fixed_pairs() -> None:
    # PYSEC-2021-130 (jupyterlab): several release lines, each with its own fix
    r = rng(
        ("introduced", "0"),
        ("fixed", "1.2.21"),
        ("introduced", "2"),
        ("fixed", "2.2.10"),
        ("introduced", "3"),
        ("fixed", "3.0.17"),
    )
    assert inside(r, "1.2.20")
    assert not inside(r, "1.2.21")
    assert not inside(r, "1.9")
    assert inside(r, "2.2.9")
    assert not inside(r, "2.2.10")
    assert inside(r, "3.0.16")
    assert not inside(r, "3.1")
    v = parse(Scheme.PEP440, "2.0.5")
    assert v is not None
    verdict = evaluate_range(r, v, Scheme.PEP440)
    assert isinstance(verdict, RangeVerdict)
    assert verdict.fixed == "2.2.10"  # the fix of its own line, not the first fix in the record


def test_events_out_of_order_are_sorted() -> None:
    r = rng(("fixed", "2.0"), ("introduced", "1.0"))
    assert inside(r, "1.5")
    assert not inside(r, "2.0")


def test_limit_caps_the_range() -> None:
    r = rng(("introduced", "0"), ("limit", "1.5"))
    assert inside(r, "1.4")
    assert not inside(r, "1.5")
    assert inside(rng(("introduced", "0"), ("limit", "*")), "99")


def test_no_fix_means_every_later_version() -> None:
    r = rng(("introduced", "0"), kind="SEMVER")
    assert inside(r, "0.32.15", Scheme.SEMVER)


def test_unreadable_event_makes_the_range_undecidable() -> None:
    assert inside(rng(("introduced", "0"), ("fixed", "unknown")), "1.0") is None


def test_semver_range_type_uses_semver_ordering_whatever_the_ecosystem() -> None:
    entry = Affected("Go", "github.com/ollama/ollama", (rng(("introduced", "0"), ("fixed", "0.1.34"), kind="SEMVER"),))
    assert evaluate_affected(entry, "0.1.32", Scheme.SEMVER).affected
    assert evaluate_affected(entry, "v0.1.33", Scheme.SEMVER).affected
    assert not evaluate_affected(entry, "0.1.34", Scheme.SEMVER).affected
    assert evaluate_affected(entry, "0.1.34-rc1", Scheme.SEMVER).affected  # a pre-release of the fix is before it


def test_enumerated_versions_and_git_ranges() -> None:
    entry = Affected("PyPI", "x", (Range("GIT", (Event("introduced", "0"), Event("fixed", "abc123"))),), ("1.0", "1.1"))
    assert evaluate_affected(entry, "1.0.0", Scheme.PEP440).affected  # 1.0.0 == 1.0 under PEP 440
    verdict = evaluate_affected(entry, "1.2", Scheme.PEP440)
    assert not verdict.affected and verdict.decided
    only_git = Affected("PyPI", "x", (Range("GIT", (Event("introduced", "0"),)),))
    assert not evaluate_affected(only_git, "1.0", Scheme.PEP440).decided


def test_local_version_matches_as_its_public_release() -> None:
    entry = Affected("PyPI", "llama-cpp-python", (rng(("introduced", "0.2.30"), ("last_affected", "0.2.71")),))
    assert evaluate_affected(entry, "0.2.71+cu121", Scheme.PEP440).affected
    assert not evaluate_affected(entry, "0.2.72+cu121", Scheme.PEP440).affected
    fixed = Affected("PyPI", "mlflow", (rng(("introduced", "0"), ("fixed", "2.2.1")),))
    assert evaluate_affected(fixed, "2.2.0+local", Scheme.PEP440).affected
    assert not evaluate_affected(fixed, "2.2.1+local", Scheme.PEP440).affected


def test_unparseable_version_is_not_decided() -> None:
    entry = Affected("PyPI", "mlflow", (rng(("introduced", "0"), ("fixed", "2.2.1")),))
    verdict = evaluate_affected(entry, "not-a-version", Scheme.PEP440)
    assert not verdict.affected and not verdict.decided


def test_cvss3_scores() -> None:
    assert cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == 9.8
    assert cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H") == 9.6
    assert cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N") == 6.5
    assert cvss3_base_score("CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N") == 1.8
    assert cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N") == 0.0
    assert cvss3_base_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N") is None
    assert cvss3_base_score("CVSS:3.1/AV:N") is None
    assert severity_from_score(9.0) is Severity.CRITICAL
    assert severity_from_score(8.9) is Severity.HIGH
    assert severity_from_score(4.0) is Severity.MEDIUM
    assert severity_from_score(0.1) is Severity.LOW


# --- property: OSV evaluation equals interval membership over a sorted version list --------------------------------

versions_st = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 6), st.sampled_from(["", "rc1", ".post1"])),
    min_size=2,
    max_size=14,
    unique=True,
).map(lambda xs: sorted({f"{a}.{b}{s}" for a, b, s in xs}, key=lambda t: parse(Scheme.PEP440, t)))  # type: ignore[arg-type,return-value]


@given(versions_st, st.data())
def test_range_equals_union_of_intervals(versions: list[str], data: st.DataObject) -> None:
    """Draw alternating introduced/fixed points (or a trailing last_affected) from a sorted list; a version is affected
    exactly when it lies in [introduced, fixed) or [introduced, last_affected] of one pair."""
    n = len(versions)
    cut = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n)))
    events: list[tuple[str, str]] = []
    intervals: list[tuple[int, int]] = []  # [lo, hi) in index space
    for i in range(0, len(cut), 2):
        lo = cut[i]
        events.append(("introduced", versions[lo]))
        if i + 1 < len(cut):
            hi = cut[i + 1]
            if data.draw(st.booleans()) and hi - 1 > lo:
                events.append(("last_affected", versions[hi - 1]))
            else:
                events.append(("fixed", versions[hi]))
            intervals.append((lo, hi))
        else:
            intervals.append((lo, n))
    shuffled = data.draw(st.permutations(events))
    r = rng(*shuffled)
    for idx, v in enumerate(versions):
        expected = any(lo <= idx < hi for lo, hi in intervals)
        assert inside(r, v) is expected, (v, events)
