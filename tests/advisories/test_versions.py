"""Version ordering per scheme: PEP 440 via packaging, SemVer 2.0 precedence, YY.MM release trains, llama.cpp builds;
anything unreadable is None ("version unknown"), never 0.0.0."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from aisweep.advisories.versions import Scheme, parse, scheme_for_ecosystem


def key(scheme: Scheme, text: str):  # type: ignore[no-untyped-def]
    k = parse(scheme, text)
    assert k is not None, text
    return k


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("2.2.0", "2.2.1"),
        ("2.2.1rc1", "2.2.1"),  # pre-release below its release
        ("2.2.1.dev0", "2.2.1rc1"),
        ("2.2.1", "2.2.1.post1"),  # post-release above its release
        ("2.2.1", "2.2.1+local.7"),  # a local version sorts above the public one
        ("1.9", "1.10"),
        ("v2.0.0", "2.0.1"),  # leading v tolerated
        ("5.0.0b3", "5.0.0"),
        ("1!0.1", "1!0.2"),
        ("0.9.0.1", "0.9.1"),
    ],
)
def test_pep440_order(lower: str, higher: str) -> None:
    assert key(Scheme.PEP440, lower) < key(Scheme.PEP440, higher)


def test_pep440_equal_spellings() -> None:
    assert key(Scheme.PEP440, "1.13") == key(Scheme.PEP440, "1.13.0")
    assert key(Scheme.PEP440, "v1.0") == key(Scheme.PEP440, "1.0")
    assert key(Scheme.PEP440, "2.2.1-rc.1") == key(Scheme.PEP440, "2.2.1rc1")


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("0.1.32", "0.1.34"),
        ("v0.1.33", "0.1.34"),
        ("0.4.0-ci1", "0.4.0"),
        ("0.4.0-rc1", "0.4.0-rc2"),
        ("1.0.0-alpha", "1.0.0-alpha.1"),  # the SemVer 2.0 precedence example, in order
        ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
        ("1.0.0-alpha.beta", "1.0.0-beta"),
        ("1.0.0-beta", "1.0.0-beta.2"),
        ("1.0.0-beta.2", "1.0.0-beta.11"),
        ("1.0.0-beta.11", "1.0.0-rc.1"),
        ("1.0.0-rc.1", "1.0.0"),
        ("0.9.9", "0.17.1"),
        ("v0.0.0-20240101000000-abcdef123456", "0.0.1"),  # Go pseudo-version
    ],
)
def test_semver_order(lower: str, higher: str) -> None:
    assert key(Scheme.SEMVER, lower) < key(Scheme.SEMVER, higher)


def test_semver_build_metadata_is_ignored() -> None:
    assert key(Scheme.SEMVER, "1.2.3+build.5") == key(Scheme.SEMVER, "1.2.3")


@pytest.mark.parametrize(
    ("lower", "higher"),
    [("24.05", "24.06"), ("23.12", "24.01"), ("25.07", "25.07.1"), ("2024.05", "24.06"), ("24.5", "24.10")],
)
def test_date_order(lower: str, higher: str) -> None:
    assert key(Scheme.DATE, lower) < key(Scheme.DATE, higher)


def test_llamacpp_build_numbers() -> None:
    assert key(Scheme.LLAMACPP_BUILD, "b4747-c5d91a74") < key(Scheme.LLAMACPP_BUILD, "b5662")
    assert key(Scheme.LLAMACPP_BUILD, "b999") < key(Scheme.LLAMACPP_BUILD, "b1000")  # numeric, not lexical
    assert key(Scheme.LLAMACPP_BUILD, "b4747-c5d91a74") == key(Scheme.LLAMACPP_BUILD, "b4747")
    assert key(Scheme.LLAMACPP_BUILD, "b8929-9d34231bb") > key(Scheme.LLAMACPP_BUILD, "b8492")


@pytest.mark.parametrize(
    ("scheme", "text"),
    [
        (Scheme.PEP440, ""),
        (Scheme.PEP440, "unknown"),
        (Scheme.PEP440, "latest"),
        (Scheme.PEP440, "2.1.1-c5d91a74-dirty!"),
        (Scheme.SEMVER, "1.2"),
        (Scheme.SEMVER, "01.2.3"),
        (Scheme.SEMVER, "dev"),
        (Scheme.SEMVER, "0"),  # "0" is only the OSV event sentinel
        (Scheme.DATE, "2.46.0"),  # Triton's core version is not a container release
        (Scheme.DATE, "24.13"),
        (Scheme.LLAMACPP_BUILD, "c5d91a74"),
        (Scheme.LLAMACPP_BUILD, "unknown"),
    ],
)
def test_unreadable_versions_are_unknown(scheme: Scheme, text: str) -> None:
    assert parse(scheme, text) is None


def test_zero_is_the_minimum_only_for_events() -> None:
    zero = parse(Scheme.PEP440, "0", allow_zero=True)
    assert zero is not None
    assert zero < key(Scheme.PEP440, "0.0.0.dev0")
    assert zero < key(Scheme.PEP440, "0")  # "0" as a real version is still above the sentinel
    assert parse(Scheme.SEMVER, "0", allow_zero=True) is not None


def test_ecosystem_schemes() -> None:
    assert scheme_for_ecosystem("PyPI") is Scheme.PEP440
    assert scheme_for_ecosystem("Go") is Scheme.SEMVER
    assert scheme_for_ecosystem("npm") is Scheme.SEMVER
    assert scheme_for_ecosystem("Maven") is None


# --- properties -------------------------------------------------------------------------------------------------------

nums = st.integers(min_value=0, max_value=300)
ident = st.one_of(
    st.integers(min_value=0, max_value=50).map(str),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=6).filter(lambda s: not s.isdigit()),
)
semvers = st.builds(
    lambda a, b, c, pre: f"{a}.{b}.{c}" + (f"-{'.'.join(pre)}" if pre else ""),
    nums,
    nums,
    nums,
    st.lists(ident, max_size=3),
)


def semver_reference_cmp(a: str, b: str) -> int:
    """SemVer 2.0 §11 precedence, written directly from the specification."""

    def split(v: str) -> tuple[list[int], list[str]]:
        core, _, pre = v.partition("-")
        return [int(x) for x in core.split(".")], pre.split(".") if pre else []

    (ca, pa), (cb, pb) = split(a), split(b)
    if ca != cb:
        return -1 if ca < cb else 1
    if not pa or not pb:
        return (len(pb) > 0) - (len(pa) > 0)  # no pre-release ranks higher
    for x, y in zip(pa, pb, strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit() != y.isdigit():
            return -1 if x.isdigit() else 1
        return -1 if x < y else 1
    return (len(pa) > len(pb)) - (len(pa) < len(pb))


@given(semvers, semvers)
def test_semver_matches_the_specification(a: str, b: str) -> None:
    ka, kb = key(Scheme.SEMVER, a), key(Scheme.SEMVER, b)
    expected = semver_reference_cmp(a, b)
    assert (ka < kb) == (expected < 0)
    assert (ka == kb) == (expected == 0)
    assert key(Scheme.SEMVER, "v" + a) == ka


pep440s = st.builds(
    lambda rel, pre, post, dev, local: ".".join(map(str, rel)) + pre + post + dev + local,
    st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=4),
    st.sampled_from(["", "a1", "b2", "rc1", "rc10"]),
    st.sampled_from(["", ".post1", ".post2"]),
    st.sampled_from(["", ".dev0", ".dev3"]),
    st.sampled_from(["", "+local", "+ubuntu.1"]),
)


@given(pep440s, pep440s)
def test_pep440_agrees_with_packaging(a: str, b: str) -> None:
    ka, kb = key(Scheme.PEP440, a), key(Scheme.PEP440, b)
    assert (ka < kb) == (Version(a) < Version(b))
    assert (ka == kb) == (Version(a) == Version(b))


@given(st.lists(semvers, min_size=1, max_size=12))
def test_semver_sort_is_a_total_order(versions: list[str]) -> None:
    keys = sorted(key(Scheme.SEMVER, v) for v in versions)
    assert all(not (b < a) for a, b in itertools.pairwise(keys))


@given(st.integers(min_value=0, max_value=99999), st.integers(min_value=0, max_value=99999))
def test_build_numbers_order_numerically(a: int, b: int) -> None:
    assert (key(Scheme.LLAMACPP_BUILD, f"b{a}-deadbeef") < key(Scheme.LLAMACPP_BUILD, f"b{b}")) == (a < b)


@given(st.integers(min_value=0, max_value=99), st.integers(min_value=1, max_value=12))
def test_date_two_and_four_digit_years_agree(yy: int, mm: int) -> None:
    assert key(Scheme.DATE, f"{yy:02d}.{mm:02d}") == key(Scheme.DATE, f"{2000 + yy}.{mm}")
