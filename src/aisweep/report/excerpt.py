"""Abridged excerpts of stored responses for a report's evidence, with secret-looking values masked, so that a
report can be shared without passing on a key that an exposed service happened to print."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

EXCERPT_CHARS: Final = 400

_SECRET_FIELD: Final = re.compile(
    r"""(?ix)
    (["']?(?:[a-z0-9_-]*(?:api[_-]?key|secret|token|passw(?:or)?d|authorization|access[_-]?key|private[_-]?key|
      credential|auth)[a-z0-9_-]*)["']?\s*[:=]\s*["']?)
    ([^"'\s,;&}]{4,})
    """
)
_PREFIXED: Final = re.compile(
    r"\b(sk-(?:proj-|ant-)?|ghp_|gho_|github_pat_|hf_|xox[abpr]-|AKIA|ASIA|AIza|glpat-|eyJ)[A-Za-z0-9_\-./+=]{8,}"
)
_LONG_TOKEN: Final = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{40,}(?![A-Za-z0-9+/=_-])")
_SENSITIVE_HEADERS: Final = frozenset({"set-cookie", "cookie", "authorization", "proxy-authorization", "x-api-key"})


def mask_secrets(text: str) -> str:
    """Mask values of secret-named fields, provider-prefixed keys and long opaque tokens."""
    text = _SECRET_FIELD.sub(lambda m: m.group(1) + "[masked]", text)
    text = _PREFIXED.sub(lambda m: m.group(1) + "[masked]", text)
    return _LONG_TOKEN.sub(lambda m: f"[{len(m.group(0))} chars masked]", text)


def observation_excerpt(obs: Mapping[str, Any], limit: int = EXCERPT_CHARS) -> str:
    """One stored exchange as a few lines: request, status or outcome, content type, and an abridged body."""
    status = obs.get("status")
    head = f"{obs.get('method', 'GET')} {obs.get('path', '/')} → " + (
        str(status) if status is not None else str(obs.get("outcome", "?"))
    )
    headers = {str(k).lower(): str(v) for k, v in (obs.get("headers") or []) if isinstance(k, str)}
    shown = [f"{k}: {headers[k]}" for k in ("content-type", "server") if k in headers]
    shown += [f"{k}: [masked]" for k in sorted(_SENSITIVE_HEADERS & set(headers))]
    body = obs.get("body") or b""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    text = mask_secrets(" ".join(raw[: limit * 3].split()))
    if len(text) > limit or len(raw) > limit * 3:
        text = text[:limit] + f" … ({len(raw):,} bytes{' stored, truncated' if obs.get('truncated') else ''})"
    lines = [head, *("  " + h for h in shown)]
    if text:
        lines.append("  " + text)
    return "\n".join(lines)
