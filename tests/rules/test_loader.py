"""Rule loading: schema errors and broken references are reported with the file and line."""

from pathlib import Path

import pytest

from aisweep.errors import RuleError
from aisweep.rules.loader import load_rule_file, load_rules

GOOD = """id: good
name: Good
category: inference-server
ports: [8000]
probes:
  root: {path: /}
identify:
  - all:
      - {probe: root, body: hello}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(text)
    return p


def error_of(tmp_path: Path, text: str, name: str = "good") -> str:
    with pytest.raises(RuleError) as info:
        load_rule_file(write(tmp_path, name, text))
    return str(info.value)


def test_builtin_rules_load() -> None:
    rules = load_rules()
    ids = {r.id for r in rules}
    assert {"jupyter", "mlflow", "gradio", "chromadb", "litellm"} <= ids


def test_good_rule(tmp_path: Path) -> None:
    assert load_rule_file(write(tmp_path, "good", GOOD)).id == "good"


def test_unknown_key_names_line(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("ports: [8000]", "ports: [8000]\nportz: [1]"))
    assert "good.yaml:5:" in msg and "portz" in msg


def test_bad_port_names_line(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("ports: [8000]", "ports: [70000]"))
    assert "good.yaml:4:" in msg


def test_unknown_probe_names_line(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("{probe: root, body: hello}", "{probe: rooot, body: hello}"))
    assert "good.yaml:9:" in msg and "rooot" in msg


def test_bad_regex_names_line(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("body: hello}", "body: {regex: '(unclosed'}}"))
    assert "good.yaml:9:" in msg and "regular expression" in msg


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD + "  - all: [unclosed\n")
    assert "good.yaml:" in msg and "invalid YAML" in msg


def test_id_must_match_file_name(tmp_path: Path) -> None:
    assert "must match the file name" in error_of(tmp_path, GOOD, name="other")


def test_condition_without_test_is_rejected(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("{probe: root, body: hello}", "{probe: root}"))
    assert "at least one of" in msg


def test_user_rule_dir_adds_and_overrides(tmp_path: Path) -> None:
    write(tmp_path, "good", GOOD)
    rules = load_rules([tmp_path])
    assert "good" in {r.id for r in rules}
    with pytest.raises(RuleError, match="no such rule file"):
        load_rules([tmp_path / "missing"])


def test_overrides_must_name_known_rules(tmp_path: Path) -> None:
    write(tmp_path, "good", GOOD.replace("ports: [8000]", "ports: [8000]\noverrides: [nonesuch]"))
    with pytest.raises(RuleError, match="nonesuch"):
        load_rules([tmp_path])
