"""Load rule files: validate against schema.json, report errors as file:line, compile to `Rule` objects."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from aisweep.errors import RuleError
from aisweep.models import AuthTier, Confidence, Level, Request, VersionConfidence
from aisweep.rules.jsonpath import compile_path
from aisweep.rules.model import (
    Condition,
    Counter,
    Extractor,
    JsonMatch,
    PartialRule,
    Probe,
    Rule,
    Signal,
    TextMatch,
    TierRule,
    Variant,
)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~10x faster

PathKey = tuple[str | int, ...]


def builtin_rules_dir() -> Path:
    return Path(str(resources.files("aisweep.rules") / "products"))


@lru_cache(maxsize=1)
def rule_schema() -> dict[str, Any]:
    text = (resources.files("aisweep.rules") / "schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _line_map(node: yaml.Node, path: PathKey, out: dict[PathKey, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            out[(*path, key)] = key_node.start_mark.line + 1
            _line_map(value_node, (*path, key), out)
            out[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, (*path, i), out)


def load_yaml_with_lines(text: str, where: str) -> tuple[Any, dict[PathKey, int]]:
    """Parse YAML, returning the data and a map from each key path to its line number."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleError(f"{where}{line}: invalid YAML: {problem}") from None
    lines: dict[PathKey, int] = {}
    if node is not None:
        _line_map(node, (), lines)
    return data, lines


def _line_for(lines: Mapping[PathKey, int], path: Sequence[str | int]) -> int:
    key: PathKey = tuple(path)
    while key and key not in lines:
        key = key[:-1]
    return lines.get(key, 1)


class _Compiler:
    """Turns one validated rule document into a Rule, checking cross-references (probe names, regexes, paths)."""

    def __init__(self, data: dict[str, Any], where: str, lines: Mapping[PathKey, int]) -> None:
        self.data = data
        self.where = where
        self.lines = lines
        self.probes: dict[str, Probe] = {}

    def fail(self, path: Sequence[str | int], message: str) -> RuleError:
        return RuleError(f"{self.where}:{_line_for(self.lines, path)}: {message}")

    def regex(self, pattern: str, path: Sequence[str | int]) -> re.Pattern[str]:
        try:
            return re.compile(pattern)
        except re.error as exc:
            return_error = self.fail(path, f"bad regular expression {pattern!r}: {exc}")
            raise return_error from None

    def json_path(self, text: str, path: Sequence[str | int]) -> str:
        try:
            compile_path(text)
        except RuleError as exc:
            raise self.fail(path, str(exc)) from None
        return text

    def request_for(self, name: str, path: Sequence[str | int]) -> Request:
        if name not in self.probes:
            known = ", ".join(sorted(self.probes))
            raise self.fail(path, f"unknown probe {name!r} (this rule's probes: {known})")
        return self.probes[name].request

    def text_match(self, spec: Any, path: Sequence[str | int]) -> TextMatch:
        if isinstance(spec, str):
            return TextMatch(contains=(spec,))

        def strs(key: str) -> tuple[str, ...]:
            value = spec.get(key)
            if value is None:
                return ()
            return (value,) if isinstance(value, str) else tuple(value)

        return TextMatch(
            equals=spec.get("equals"),
            has_equals="equals" in spec,
            contains=strs("contains"),
            any_of=strs("any_of"),
            not_contains=strs("not_contains"),
            regex=self.regex(spec["regex"], [*path, "regex"]) if "regex" in spec else None,
            exists=spec.get("exists"),
            type=spec.get("type"),
            min_count=spec.get("min_count"),
            one_of=tuple(spec["in"]) if "in" in spec else None,
        )

    def json_match(self, spec: dict[str, Any], path: Sequence[str | int]) -> JsonMatch:
        rest = {k: v for k, v in spec.items() if k != "path"}
        return JsonMatch(self.json_path(spec["path"], [*path, "path"]), self.text_match(rest or {"exists": True}, path))

    def condition(self, spec: dict[str, Any], path: Sequence[str | int]) -> Condition:
        request = self.request_for(spec["probe"], [*path, "probe"])
        status = spec.get("status")
        statuses = frozenset([status] if isinstance(status, int) else status) if status is not None else None
        headers = tuple(
            (name.lower(), self.text_match(m, [*path, "header", name])) for name, m in spec.get("header", {}).items()
        )
        body = self.text_match(spec["body"], [*path, "body"]) if "body" in spec else None
        json_spec = spec.get("json")
        json_items = [json_spec] if isinstance(json_spec, dict) else (json_spec or [])
        jsons = tuple(self.json_match(j, [*path, "json"]) for j in json_items)
        if statuses is None and not headers and body is None and not jsons:
            raise self.fail(path, "a condition needs at least one of status, header, body or json")
        return Condition(spec["probe"], request, statuses, headers, body, jsons, bool(spec.get("not", False)))

    def conditions(self, specs: list[dict[str, Any]], path: Sequence[str | int]) -> tuple[Condition, ...]:
        return tuple(self.condition(c, [*path, i]) for i, c in enumerate(specs))

    def compile(self) -> Rule:
        d = self.data
        for name, p in d["probes"].items():
            headers = tuple(sorted((k, v) for k, v in p.get("headers", {}).items()))
            request = Request(p.get("method", "GET"), p["path"], headers)
            self.probes[name] = Probe(
                name, request, p.get("stage", "identify"), bool(p.get("stream", False)), p.get("max_bytes")
            )
        identify = tuple(
            Signal(
                s.get("name", f"signal {i + 1}"),
                Confidence(s.get("confidence", "high")),
                self.conditions(s["all"], ["identify", i, "all"]),
            )
            for i, s in enumerate(d["identify"])
        )
        for i, s in enumerate(identify):
            if not any(c.status is not None or c.body or c.json or c.headers for c in s.conditions if not c.negate):
                raise self.fail(["identify", i], "a signal needs at least one positive condition")
        version = tuple(self._extractor(e, ["version", i]) for i, e in enumerate(d.get("version", [])))
        auth = d.get("auth", {})
        tiers = tuple(
            TierRule(
                AuthTier(t["tier"]),
                self.conditions(t["when"], ["auth", "tiers", i, "when"]),
                t["evidence"],
                t.get("finding"),
            )
            for i, t in enumerate(auth.get("tiers", []))
        )
        partial = tuple(
            PartialRule(self.conditions(p["when"], ["partial", i, "when"]), p["evidence"])
            for i, p in enumerate(d.get("partial", []))
        )
        surfaces = {
            name: tuple(
                self._counter(c, ["surfaces", name] if isinstance(spec, dict) else ["surfaces", name, i])
                for i, c in enumerate([spec] if isinstance(spec, dict) else spec)
            )
            for name, spec in d.get("surfaces", {}).items()
        }
        variants = tuple(
            Variant(v["name"], self.conditions(v["when"], ["variants", i, "when"]))
            for i, v in enumerate(d.get("variants", []))
        )
        ports = d["ports"]
        return Rule(
            id=d["id"],
            name=d["name"],
            category=d["category"],
            ports=None if ports == "any" else frozenset(ports),
            probes=self.probes,
            identify=identify,
            version=version,
            tiers=tiers,
            default_tier=AuthTier(auth["default"]) if "default" in auth else AuthTier.UNKNOWN,
            default_evidence=auth.get("default_evidence", ""),
            partial=partial,
            surfaces=surfaces,
            variants=variants,
            remediation=dict(d.get("remediation", {})),
            generic=bool(d.get("generic", False)),
            overrides=frozenset(d.get("overrides", [])),
            level=Level(d.get("level", "safe")),
            description=d.get("description", ""),
            url=d.get("url", ""),
            source=self.where,
        )

    def _counter(self, c: dict[str, Any], path: list[str | int]) -> Counter:
        paths = [c["count"]] if isinstance(c["count"], str) else c["count"]
        return Counter(
            self.request_for(c["probe"], [*path, "probe"]),
            tuple(self.json_path(p, [*path, "count"]) for p in paths),
            self.json_match(c["where"], [*path, "where"]) if "where" in c else None,
            bool(c.get("missing_is_zero", False)),
        )

    def _extractor(self, e: dict[str, Any], path: Sequence[str | int]) -> Extractor:
        sources = [k for k in ("json", "header", "body") if k in e]
        if len(sources) != 1:
            raise self.fail(path, "a version extractor needs exactly one of json, header or body")
        return Extractor(
            request=self.request_for(e["probe"], [*path, "probe"]),
            json_path=self.json_path(e["json"], [*path, "json"]) if "json" in e else None,
            header=e.get("header"),
            body=bool(e.get("body", False)),
            regex=self.regex(e["regex"], [*path, "regex"]) if "regex" in e else None,
            strip_prefix=e.get("strip_prefix"),
            confidence=VersionConfidence(e.get("confidence", "exact")),
        )


def parse_rule_text(text: str, where: str) -> Rule:
    data, lines = load_yaml_with_lines(text, where)
    if not isinstance(data, dict):
        raise RuleError(f"{where}:1: a rule file must be a mapping with id, name, probes and identify")
    validator = jsonschema.Draft202012Validator(rule_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        err = jsonschema.exceptions.best_match(errors) or errors[0]
        path: list[str | int] = list(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
            extra = [k for k in err.instance if k not in allowed]
            if extra:
                path.append(extra[0])
        where_in = "/".join(str(p) for p in path) or "(top level)"
        raise RuleError(f"{where}:{_line_for(lines, path)}: {where_in}: {err.message}")
    return _Compiler(data, where, lines).compile()


def load_rule_file(path: Path) -> Rule:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"{path}: cannot read rule file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RuleError(f"{path}:1: rule file is not UTF-8 text") from None
    rule = parse_rule_text(text, str(path))
    if rule.id != path.stem:
        raise RuleError(f"{path}:1: rule id {rule.id!r} must match the file name {path.stem!r}")
    return rule


def load_rules(dirs: Iterable[Path] | None = None, *, include_builtin: bool = True) -> list[Rule]:
    """Load built-in rules plus any user directories; a user rule with a built-in id replaces it."""
    paths: list[Path] = []
    if include_builtin:
        paths.extend(sorted(builtin_rules_dir().glob("*.yaml")))
    for d in dirs or ():
        if d.is_file():
            paths.append(d)
        elif d.is_dir():
            paths.extend(sorted(d.glob("*.yaml")))
        else:
            raise RuleError(f"{d}: no such rule file or directory")
    by_id: dict[str, Rule] = {}
    for p in paths:
        rule = load_rule_file(p)
        by_id[rule.id] = rule
    rules = list(by_id.values())
    known = set(by_id)
    for rule in rules:
        unknown = sorted(rule.overrides - known)
        if unknown:
            raise RuleError(f"{rule.source}:1: overrides names unknown rule(s): {', '.join(unknown)}")
    return rules
