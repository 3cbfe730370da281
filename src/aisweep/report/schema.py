"""JSON Schema (draft 2020-12) of the service record and of the JSON report, generated from the typed model
(`aisweep.models` dataclasses and enums, `aisweep.report.stats`), so the schema follows the code.

`python -m aisweep.report.schema [record|report]` prints one.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from enum import Enum
from typing import Any, Final, Union, get_args, get_origin, get_type_hints

from aisweep import models
from aisweep.report import stats

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
RECORD_ID: Final = "https://aisweep.dev/schemas/service-record.json"
REPORT_ID: Final = "https://aisweep.dev/schemas/report.json"
REPORT_FORMAT: Final = "aisweep-report/1"

# How Service.to_record lays the dataclass out: fields moved into the nested "auth" object, and fields not emitted.
_AUTH_FIELDS: Final = {"auth_tier": "tier", "auth_evidence": "evidence", "partial_protection": "partial"}
_NOT_IN_RECORD: Final = frozenset({"auth_finding", "scheme"})  # scheme is written into "target"

_NULLABLE_BOOL: Final = {"type": ["boolean", "null"]}

# Fields other stages add to a record (honeypot screening, secret detection, TLS certificate checks, GeoIP): optional.
_EXTENSIONS: Final[dict[str, Any]] = {
    "honeypot": {
        "type": ["object", "null"],
        "properties": {
            "score": {"type": "number"},
            "likely": {"type": "boolean"},
            "reasons": {"type": "array", "items": {"type": "string"}},
        },
    },
    "credentials": {
        "type": ["array", "null"],
        "items": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"type": "string"},
                "location": {"type": ["string", "null"]},
                "sha256": {"type": ["string", "null"]},
                "prefix": {"type": ["string", "null"]},
            },
        },
    },
    "geo": {
        "type": "object",
        "properties": {
            "country": {"type": "string"},
            "country_name": {"type": "string"},
            "asn": {"type": "integer"},
            "as_org": {"type": "string"},
        },
    },
}
_TLS_EXTENSIONS: Final = {
    k: _NULLABLE_BOOL
    for k in ("self_signed", "expired", "not_yet_valid", "name_mismatch", "weak_key", "hsts", "redirects_to_https")
}
_FINDING_EXTENSIONS: Final[dict[str, Any]] = {"kev": {"type": "boolean"}, "advisory": {}}


class _Builder:
    """Type hints to schemas; dataclasses become $defs entries referenced by name."""

    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def of(self, tp: Any) -> dict[str, Any]:
        if tp is Any:
            return {}
        if tp is type(None):
            return {"type": "null"}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp is float:
            return {"type": "number"}
        if tp is str:
            return {"type": "string"}
        if isinstance(tp, type) and issubclass(tp, Enum):
            return {"type": "string", "enum": [m.value for m in tp]}
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.dataclass_ref(tp)
        origin, args = get_origin(tp), get_args(tp)
        if origin in (Union, types.UnionType):
            return self._union([self.of(a) for a in args])
        if origin in (list, typing.Sequence, set, frozenset):
            return {"type": "array", "items": self.of(args[0]) if args else {}}
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.of(args[0])}
            return {
                "type": "array",
                "prefixItems": [self.of(a) for a in args],
                "items": False,
                "minItems": len(args),
            }
        if origin in (dict, typing.Mapping):
            return {"type": "object", "additionalProperties": self.of(args[1]) if args else {}}
        raise TypeError(f"no JSON Schema for {tp!r}")

    @staticmethod
    def _union(options: list[dict[str, Any]]) -> dict[str, Any]:
        simple = all(set(o) == {"type"} and isinstance(o["type"], str) for o in options)
        if simple:
            return {"type": [o["type"] for o in options]}
        nullable = [o for o in options if o != {"type": "null"}]
        if len(nullable) == 1 and len(options) == 2:
            return {"anyOf": [nullable[0], {"type": "null"}]}
        return {"anyOf": options}

    def dataclass_ref(self, cls: type) -> dict[str, Any]:
        name = cls.__name__
        if name not in self.defs:
            self.defs[name] = {}  # placeholder for recursive references
            self.defs[name] = self.dataclass_schema(cls)
        return {"$ref": f"#/$defs/{name}"}

    def dataclass_schema(self, cls: type, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
        """An object with the dataclass's fields, or, when it has `to_dict`, exactly the keys that method writes
        (fields keep their annotated type; computed keys take the type of the value written)."""
        hints = get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")]
        written: dict[str, Any] | None = None
        if callable(getattr(cls, "to_dict", None)):
            written = sample(cls).to_dict()
            names = list(written)
        props = {
            name: self.of(hints[name]) if name in hints else self.of(type(written[name]) if written else Any)
            for name in names
            if name not in skip
        }
        doc = (cls.__doc__ or "").strip().splitlines()
        schema: dict[str, Any] = {"type": "object", "required": list(props), "properties": props}
        if doc and not doc[0].startswith(cls.__name__ + "("):
            schema["description"] = doc[0]
        return schema


def sample(cls: type) -> Any:
    """An instance of a model dataclass with placeholder values, to see which keys its `to_dict` writes."""
    hints = get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.init:
            kwargs[f.name] = _placeholder(hints[f.name])
    return cls(**kwargs)


def _placeholder(tp: Any) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        return None if type(None) in args else _placeholder(args[0])
    if isinstance(tp, type) and issubclass(tp, Enum):
        return next(iter(tp))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return sample(tp)
    simple: dict[Any, Any] = {str: "", int: 0, float: 0.0, bool: False, bytes: b""}
    if tp in simple:
        return simple[tp]
    return (origin or tp)()


def record_schema(*, standalone: bool = True) -> dict[str, Any]:
    """The schema of one service record (Service.to_record, plus the optional fields other stages add)."""
    b = _Builder()
    hints = get_type_hints(models.Service)
    target = b.dataclass_schema(models.Target)
    target["properties"]["scheme"] = b.of(hints["scheme"])  # the service's scheme, decided per port
    tls = b.dataclass_schema(models.TlsFacts)
    tls["properties"] |= {k: v for k, v in _TLS_EXTENSIONS.items() if k not in tls["properties"]}
    finding = b.dataclass_schema(models.Finding)
    finding["properties"] |= _FINDING_EXTENSIONS
    auth = {
        "type": "object",
        "required": list(_AUTH_FIELDS.values()),
        "properties": {name: b.of(hints[field]) for field, name in _AUTH_FIELDS.items()},
    }
    props: dict[str, Any] = {}
    for f in dataclasses.fields(models.Service):
        if f.name in _NOT_IN_RECORD or f.name.startswith("_"):
            continue
        if f.name in _AUTH_FIELDS:
            props.setdefault("auth", auth)
        elif f.name == "target":
            props["target"] = target
        elif f.name == "tls":
            props["tls"] = {"anyOf": [tls, {"type": "null"}]}
        elif f.name == "findings":
            props["findings"] = {"type": "array", "items": finding}
        else:
            props[f.name] = b.of(hints[f.name])
    schema: dict[str, Any] = {
        "type": "object",
        "description": (models.Service.__doc__ or "").strip(),
        "required": list(props),
        "properties": props | _EXTENSIONS,
    }
    if standalone:
        schema = {"$schema": DIALECT, "$id": RECORD_ID, "title": "aisweep service record"} | schema
    return schema


def report_schema() -> dict[str, Any]:
    """The schema of `aisweep report -f json`: run facts, the survey (from the stats dataclasses), services."""
    b = _Builder()
    survey = b.of(stats.Survey)
    return {
        "$schema": DIALECT,
        "$id": REPORT_ID,
        "title": "aisweep survey report",
        "type": "object",
        "required": ["format", "generator", "generated_at", "anonymized", "run", "survey", "limitations", "services"],
        "properties": {
            "format": {"const": REPORT_FORMAT},
            "generator": {
                "type": "object",
                "required": ["name", "version"],
                "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
            },
            "generated_at": {"type": "string"},
            "anonymized": {"type": "boolean"},
            "geoip": {"type": ["string", "null"]},
            "advisory_data": {"type": ["string", "null"]},
            "run": {
                "type": "object",
                "required": ["id", "started_at", "status", "command", "targets", "settings", "counters"],
                "properties": {
                    "id": {"type": "string"},
                    "started_at": {"type": "string"},
                    "finished_at": {"type": ["string", "null"]},
                    "status": {"type": "string"},
                    "command": {"type": "string"},
                    "targets": {"type": "array", "items": {"type": "string"}},
                    "settings": {"type": "object"},
                    "counters": {"type": "object"},
                    "tool_version": {"type": "string"},
                },
            },
            "survey": survey,
            "limitations": {"type": "array", "items": {"type": "string"}},
            "services": {"type": "array", "items": {"$ref": "#/$defs/ServiceRecord"}},
        },
        "$defs": b.defs | {"ServiceRecord": record_schema(standalone=False)},
    }


def main(argv: list[str] | None = None) -> None:
    which = (argv if argv is not None else sys.argv[1:])[:1] or ["record"]
    schema = report_schema() if which[0] == "report" else record_schema()
    print(json.dumps(schema, indent=2))


if __name__ == "__main__":
    main()
