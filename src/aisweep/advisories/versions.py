"""Version ordering per ecosystem: PEP 440, SemVer (Go, npm), date-style releases (YY.MM) and llama.cpp build numbers.

`parse(scheme, text)` returns a sortable key, or None when the text is not a version in that scheme. None means
"version unknown": it is never coerced to 0.0.0 or to any other version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache, total_ordering
from typing import Final

from packaging.version import InvalidVersion, Version


class Scheme(StrEnum):
    """How a product's version strings are ordered."""

    PEP440 = "pep440"  # PyPI
    SEMVER = "semver"  # Go modules, npm, tagged releases; a leading "v" is tolerated
    DATE = "date"  # YY.MM or YYYY.MM release trains (NVIDIA Triton containers), optional .patch
    LLAMACPP_BUILD = "llamacpp-build"  # llama.cpp build numbers: b4747, b4747-c5d91a74


# The OSV "0" event means "the first release"; it sorts below every version of every scheme.
ZERO: Final = "0"

_SEMVER_RE: Final = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_DATE_RE: Final = re.compile(r"^v?(\d{2}|\d{4})\.(\d{1,2})(?:\.(\d+))?(?:-[0-9A-Za-z.-]+)?$")
_BUILD_RE: Final = re.compile(r"^b?(\d+)(?:[-+_ ][0-9A-Za-z.-]*)?$")


@total_ordering
@dataclass(frozen=True, slots=True)
class _PreId:
    """One SemVer pre-release identifier: numeric ones sort numerically and below alphanumeric ones."""

    number: int | None
    text: str

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, _PreId):
            return NotImplemented
        if self.number is not None and other.number is not None:
            return self.number < other.number
        if self.number is not None:
            return True
        if other.number is not None:
            return False
        return self.text < other.text


@dataclass(frozen=True, slots=True)
class SemVer:
    major: int
    minor: int
    patch: int
    pre: tuple[_PreId, ...] = ()

    def key(self) -> tuple[int, int, int, int, tuple[_PreId, ...]]:
        # A release sorts above all of its pre-releases: (…, 1, ()) > (…, 0, pre).
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, self.pre)


def parse_semver(text: str) -> SemVer | None:
    m = _SEMVER_RE.match(text.strip())
    if m is None:
        return None
    pre = (
        tuple(_PreId(int(p), p) if p.isdigit() else _PreId(None, p) for p in m.group(4).split("."))
        if m.group(4)
        else ()
    )
    return SemVer(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre)


def parse_pep440(text: str) -> Version | None:
    t = text.strip()
    if not t:
        return None
    try:
        return Version(t)  # packaging accepts a leading "v" and normalises it away
    except InvalidVersion:
        return None


def parse_date(text: str) -> tuple[int, int, int] | None:
    m = _DATE_RE.match(text.strip())
    if m is None:
        return None
    year = int(m.group(1))
    year = year + 2000 if year < 100 else year
    month = int(m.group(2))
    if not 1 <= month <= 12:
        return None
    return (year, month, int(m.group(3) or 0))


def parse_build(text: str) -> int | None:
    m = _BUILD_RE.match(text.strip())
    return int(m.group(1)) if m else None


@total_ordering
@dataclass(frozen=True, slots=True)
class VersionKey:
    """A comparable version in one scheme. `minimum` is OSV's "0" (below every real version)."""

    scheme: Scheme
    value: object  # the parsed version; compared only with keys of the same scheme
    minimum: bool = False

    def _cmp_key(self) -> object:
        if self.scheme is Scheme.SEMVER and isinstance(self.value, SemVer):
            return self.value.key()
        return self.value

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, VersionKey):
            return NotImplemented
        if self.scheme is not other.scheme:
            raise TypeError(f"cannot order {self.scheme} against {other.scheme}")
        if self.minimum or other.minimum:
            return self.minimum and not other.minimum
        return bool(self._cmp_key() < other._cmp_key())  # type: ignore[operator]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VersionKey):
            return NotImplemented
        if self.scheme is not other.scheme:
            return False
        if self.minimum or other.minimum:
            return self.minimum == other.minimum
        return bool(self._cmp_key() == other._cmp_key())

    def __hash__(self) -> int:
        return hash((self.scheme, self.minimum, None if self.minimum else self._cmp_key()))


def parse(scheme: Scheme, text: str | None, *, allow_zero: bool = False) -> VersionKey | None:
    """The ordering key of `text` in `scheme`, or None when it is not a version there ("version unknown").

    `allow_zero` is for OSV range events only, where "0" means "the first release"."""
    if text is None:
        return None
    return _parse(scheme, text, allow_zero)


@lru_cache(maxsize=8192, typed=True)
def _parse(scheme: Scheme, text: str, allow_zero: bool) -> VersionKey | None:
    """Memoized (keys are immutable): the advisory ranges' event versions are read for every version assessed."""
    t = text.strip()
    if allow_zero and t == ZERO:
        return VersionKey(scheme, None, minimum=True)
    value: object | None
    if scheme is Scheme.PEP440:
        value = parse_pep440(t)
    elif scheme is Scheme.SEMVER:
        value = parse_semver(t)
    elif scheme is Scheme.DATE:
        value = parse_date(t)
    else:
        value = parse_build(t)
    return None if value is None else VersionKey(scheme, value)


def scheme_for_ecosystem(ecosystem: str) -> Scheme | None:
    """The ordering OSV uses for an ecosystem's ECOSYSTEM ranges (None: not one aisweep can order)."""
    return _ECOSYSTEM_SCHEMES.get(ecosystem)


_ECOSYSTEM_SCHEMES: Final[dict[str, Scheme]] = {
    "PyPI": Scheme.PEP440,
    "Go": Scheme.SEMVER,
    "npm": Scheme.SEMVER,
    # Ecosystems OSV does not have; aisweep's own names for vendor release trains (see data/products.json).
    "llama.cpp": Scheme.LLAMACPP_BUILD,
    "NVIDIA-Triton": Scheme.DATE,
    "GitHub-Releases": Scheme.PEP440,  # tags like v0.3.40, 1.16.0-rc1, 3.4: PEP 440 orders them all
}
