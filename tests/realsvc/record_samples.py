"""Record rule samples from the real services in services.py (127.0.0.1 only).

Starts each spec with the launcher, seeds data where the sample should show non-zero counts, checks the version the
product reports, and runs record.py with the product's probe paths:

    python tests/realsvc/record_samples.py mlflow-2.9.2 gradio-4.10.0-auth
    python tests/realsvc/record_samples.py --all
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from services import SPECS, RunningService, ServiceSpec, http_get, installed_version, mlflow_seed, running

RECORD = Path(__file__).resolve().parent / "record.py"
NOT_FOUND = "/nonexistent-aisweep-probe"

PATHS: dict[str, list[str]] = {
    "jupyter": [
        "/api",
        "/api/status",
        "/api/kernels",
        "/api/sessions",
        "/api/terminals",
        "/api/contents",
        "/api/kernelspecs",
        "/lab",
        "/tree",
        "/login",
        "/",
        NOT_FOUND,
    ],
    "mlflow": [
        "/",
        "/health",
        "/version",
        "/api/2.0/mlflow/experiments/search?max_results=1000",
        "/ajax-api/2.0/mlflow/experiments/search?max_results=1000",
        "/api/2.0/mlflow/registered-models/search?max_results=1000",
        NOT_FOUND,
    ],
    "gradio": [
        "/",
        "/config",
        "/info",
        "/gradio_api/info",
        "/gradio_api/login_check",
        "/login_check",
        "/theme.css",
        NOT_FOUND,
    ],
}

MLFLOW_EXPERIMENTS = ("aisweep-exp-1", "aisweep-exp-2")
MLFLOW_MODELS = ("aisweep-model",)


def reported_version(svc: RunningService) -> str | None:
    """The version the product itself reports on its version endpoint without credentials (None if hidden)."""
    product = svc.spec.product
    path = {"jupyter": "/api", "mlflow": "/version", "gradio": "/config"}[product]
    status, body = http_get(svc.port, path)
    if status != 200:
        return None
    if product == "mlflow":
        return body.decode().strip()
    version = json.loads(body).get("version")
    return str(version) if version else None


def case_name(spec: ServiceSpec, svc: RunningService) -> str:
    if spec.product == "jupyter":
        app = spec.name.rsplit("-", 1)[0]
        dist = {"jupyter-server": "jupyter-server", "jupyterlab": "jupyterlab", "notebook7": "notebook"}[app]
        version = installed_version(svc.venv, dist)
        return f"{dist}-{version}-{'token' if spec.token else 'open'}"
    version = installed_version(svc.venv, spec.product)
    return f"{spec.product}-{version}-{'auth' if spec.login else 'open'}"


def record(name: str) -> Path:
    spec = SPECS[name]
    with running(name) as svc:
        surfaces: dict[str, int] = {}
        how = svc.how()
        if spec.product == "mlflow":
            mlflow_seed(svc, MLFLOW_EXPERIMENTS, MLFLOW_MODELS)
            # MLflow always has the "Default" experiment (id 0).
            surfaces = {"experiments": 1 + len(MLFLOW_EXPERIMENTS), "registered_models": len(MLFLOW_MODELS)}
            how += (
                f"; {len(MLFLOW_EXPERIMENTS)} experiments and {len(MLFLOW_MODELS)} registered model created with"
                " MlflowClient"
            )
        elif spec.product == "jupyter":
            how += "; DIR/root holds one example.ipynb; no kernel started"
            if not spec.token:
                surfaces = {"kernels": 0, "sessions": 0, "terminals": 0, "files": 1}
        version = reported_version(svc)
        if version is not None and version != spec.expect_version:
            raise SystemExit(f"{name}: reports version {version!r}, spec expects {spec.expect_version!r}")
        argv = [
            sys.executable,
            str(RECORD),
            "--base",
            svc.base_url,
            "--product",
            spec.product,
            "--case",
            case_name(spec, svc),
            "--software",
            spec.software,
            "--how",
            how,
            "--expect-auth",
            spec.expect_auth,
        ]
        if version is not None:
            argv += ["--expect-version", version]
        for key, count in surfaces.items():
            argv += ["--expect-surface", f"{key}={count}"]
        for path in PATHS[spec.product]:
            argv += ["--path", path]
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()
        print(f"{name}: version {version or '(hidden)'} -> {out}", flush=True)
        return Path(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", metavar="NAME")
    ap.add_argument("--all", action="store_true")
    args = ap.parse_args()
    names = [n for n in SPECS if SPECS[n].product in PATHS] if args.all else args.names
    failed = []
    for name in names:
        try:
            record(name)
        except Exception as err:  # keep going: report every spec that fails
            failed.append(name)
            print(f"{name}: FAILED: {err}", file=sys.stderr, flush=True)
    if failed:
        sys.exit(f"failed: {' '.join(failed)}")


if __name__ == "__main__":
    main()
