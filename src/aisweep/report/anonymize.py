"""Anonymised reports: every address becomes a keyed hash (HMAC-SHA256), host names, raw bodies and secret
hashes are dropped, and finding fingerprints are re-keyed so they cannot be brute-forced back to an address."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any, Final

_IPV4: Final = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)")
_IPV6: Final = re.compile(r"(?<![\w:])\[?(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}\]?(?![\w:])")
# Fields that are never free text about a host (a four-part version such as 1.2.3.4 must stay as it is).
_KEEP: Final = frozenset({"version", "product", "product_name", "category", "variant", "confidence", "tier", "id"})


def new_key() -> bytes:
    """A fresh per-report key: pseudonyms from two reports can be linked only when the same key is given."""
    return secrets.token_bytes(32)


def pseudonym(key: bytes, value: str) -> str:
    return "anon-" + hmac.new(key, value.strip().lower().encode(), hashlib.sha256).hexdigest()[:16]


class Anonymizer:
    """Replaces addresses and names consistently within one report."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key if key is not None else new_key()
        self._known: dict[str, str] = {}

    def host(self, value: str) -> str:
        if value not in self._known:
            self._known[value] = pseudonym(self.key, value)
        return self._known[value]

    def fingerprint(self, value: str) -> str:
        return hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:32] if value else value

    def text(self, value: str) -> str:
        """Free text with every known host name and every IP literal replaced."""
        for original in sorted(self._known, key=len, reverse=True):
            if original and original in value:
                value = value.replace(original, self._known[original])
        value = _IPV4.sub(lambda m: self.host(m.group(0)) if _is_ip(m.group(0)) else m.group(0), value)
        return _IPV6.sub(
            lambda m: self.host(m.group(0).strip("[]")) if _is_ip(m.group(0).strip("[]")) else m.group(0), value
        )

    def _deep(self, value: Any, key: str = "") -> Any:
        if isinstance(value, str):
            return value if key in _KEEP else self.text(value)
        if isinstance(value, Mapping):
            return {k: self._deep(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._deep(v, key) for v in value]
        return value

    def record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(record)
        out.pop("observations", None)
        out.pop("position", None)
        target = dict(out.get("target") or {})
        hostname = target.get("hostname")
        if hostname:
            self.host(str(hostname))
        if target.get("host"):
            target["host"] = self.host(str(target["host"]))
        target["hostname"] = None
        if isinstance(out.get("credentials"), list):
            out["credentials"] = [
                {k: v for k, v in c.items() if k not in ("sha256", "prefix")}
                for c in out["credentials"]
                if isinstance(c, Mapping)
            ]
        if isinstance(out.get("tls"), Mapping):
            out["tls"] = {k: v for k, v in out["tls"].items() if k not in ("cert_sha256", "subject", "san", "issuer")}
        out = self._deep({k: v for k, v in out.items() if k != "target"})
        out["target"] = target
        out["findings"] = [
            dict(f) | {"fingerprint": self.fingerprint(str(f.get("fingerprint", "")))}
            for f in out.get("findings") or []
        ]
        return {"target": target, **{k: v for k, v in out.items() if k != "target"}}

    def records(self, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        materialised = list(records)
        for r in materialised:  # learn every address first, so text mentioning another service's host is replaced
            target = r.get("target") or {}
            for v in (target.get("host"), target.get("hostname")):
                if v:
                    self.host(str(v))
        return [self.record(r) for r in materialised]

    def run_info(self, info: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(info)
        targets = out.get("targets") or []
        out["targets"] = [f"{len(targets)} target specification(s), withheld (anonymised report)"]
        settings = dict(out.get("settings") or {})
        settings.pop("seed", None)  # with the target list withheld, the order seed says nothing useful
        out["settings"] = settings
        return out


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
