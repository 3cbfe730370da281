"""Start real AI services (installed from PyPI) on 127.0.0.1 for integration tests and sample recording.

Every service binds 127.0.0.1 only, runs with telemetry switched off and with HOME (and the XDG directories) inside
a throw-away work directory, and is polled on 127.0.0.1 only. Each package set gets its own venv under a git-ignored
cache directory, built once (under a file lock) and reused.

    python tests/realsvc/services.py list
    python tests/realsvc/services.py prepare mlflow-2.9.2 gradio-4.10.0
    python tests/realsvc/services.py up jupyter-server-token      # prints the base URL, Ctrl-C stops it

From Python::

    with running("mlflow-2.9.2") as svc:
        urllib.request.urlopen(svc.base_url + "/version")

Stdlib only: it runs from the project venv or any Python 3.11+.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"
DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache/realsvc"
CACHE_ENV = "AISWEEP_REALSVC_CACHE"  # overrides DEFAULT_CACHE_DIR (CI)
READY_TIMEOUT = 120.0
MARKER = ".aisweep-ready.json"

# Phone-home switches (see ../shared/research/real-services.md). Set for every service, whatever its product.
TELEMETRY_OFF: Mapping[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "ANONYMIZED_TELEMETRY": "False",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "OFFLINE_MODE": "true",
    "ENABLE_OPENAI_API": "false",
    "LATEST_VERSION_CHECK": "false",
    "BENTOML_DO_NOT_TRACK": "true",
    "DO_NOT_TRACK": "1",
}

# Variables passed through from the caller's environment; everything else is dropped so that nothing from the
# developer's shell (JUPYTER_TOKEN, MLFLOW_TRACKING_URI, proxies, ...) changes what the service does.
PASS_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")


class ServiceError(RuntimeError):
    """A service could not be prepared or did not come up."""


@dataclass(frozen=True)
class LaunchContext:
    """What a spec's start function gets: the venv to run from, the port to bind and a private work directory."""

    venv: Path
    port: int
    workdir: Path

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


@dataclass(frozen=True)
class Launch:
    """What a spec's start function returns: the command line and extra environment variables."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


StartFn = Callable[[LaunchContext], Launch]


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # e.g. "jupyter-server-token"
    product: str  # rule id: "jupyter", "mlflow", "gradio"
    packages: tuple[str, ...]  # pip requirements, pinned
    expect_version: str  # exact version string the product itself reports
    expect_auth: str  # auth tier, see docs/samples.md
    start: StartFn
    ready_path: str = "/"
    ready_status: int = 200
    token: str | None = None  # Jupyter token, when the spec sets one
    login: tuple[str, str] | None = None  # username/password of an app login (Gradio auth=)
    software: str = ""  # for sample files: "mlflow 2.9.2 (PyPI)"


@dataclass(frozen=True)
class RunningService:
    spec: ServiceSpec
    base_url: str
    port: int
    log_path: Path
    workdir: Path
    venv: Path
    process: subprocess.Popen[bytes] = field(repr=False, compare=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def how(self) -> str:
        """The command line that started it, with the port, work directory and venv made generic."""
        return describe_launch(self.spec, self.venv, self.port, self.workdir)


# --------------------------------------------------------------------------------------------------------------------
# Start functions


def _jupyter(app: str, token: str) -> StartFn:
    """`jupyter server|lab|notebook` on 127.0.0.1, serving an `example.ipynb` from a private root directory."""

    def start(ctx: LaunchContext) -> Launch:
        root = ctx.workdir / "root"
        root.mkdir(parents=True, exist_ok=True)
        notebook = {
            "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["aisweep test notebook"]}],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        (root / "example.ipynb").write_text(json.dumps(notebook, indent=1))
        argv = [
            ctx.bin("jupyter"),
            app,
            "--no-browser",
            "--allow-root",
            f"--ServerApp.ip={LOOPBACK}",
            f"--ServerApp.port={ctx.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={token}",
            "--PasswordIdentityProvider.hashed_password=",
        ]
        if app in ("lab", "notebook"):
            # JupyterLab's news/update checks fetch from the internet when the front end asks for them.
            argv += [
                "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
            ]
        env = {
            "JUPYTER_CONFIG_DIR": str(ctx.workdir / ".jupyter"),
            "JUPYTER_DATA_DIR": str(ctx.workdir / ".local/share/jupyter"),
            "JUPYTER_RUNTIME_DIR": str(ctx.workdir / ".local/share/jupyter/runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
        }
        return Launch(tuple(argv), env)

    return start


def _mlflow(workers: bool) -> StartFn:
    def start(ctx: LaunchContext) -> Launch:
        (ctx.workdir / "artifacts").mkdir(parents=True, exist_ok=True)
        argv = [
            ctx.bin("mlflow"),
            "server",
            "--host",
            LOOPBACK,
            "--port",
            str(ctx.port),
            "--backend-store-uri",
            f"sqlite:///{ctx.workdir / 'mlflow.db'}",
            "--default-artifact-root",
            str(ctx.workdir / "artifacts"),
        ]
        if workers:
            argv += ["--workers", "1"]
        return Launch(tuple(argv))

    return start


GRADIO_APP = textwrap.dedent(
    """\
    import sys

    import gradio as gr

    port = int(sys.argv[1])
    auth = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else None


    def greet(name):
        return "Hello " + name


    demo = gr.Interface(fn=greet, inputs="text", outputs="text", title="aisweep test app")
    demo.launch(server_name="127.0.0.1", server_port=port, auth=auth, share=False)
    """
)


def _gradio(login: tuple[str, str] | None) -> StartFn:
    def start(ctx: LaunchContext) -> Launch:
        app = ctx.workdir / "app.py"
        app.write_text(GRADIO_APP)
        argv = [ctx.bin("python"), str(app), str(ctx.port), *(login or ())]
        env = {"GRADIO_TEMP_DIR": str(ctx.workdir / "gradio-tmp"), "GRADIO_SERVER_NAME": LOOPBACK}
        return Launch(tuple(argv), env)

    return start


# --------------------------------------------------------------------------------------------------------------------
# Specs

JUPYTER_SERVER = "2.21.1"
JUPYTERLAB = "4.6.6"
NOTEBOOK = "7.6.5"
TEST_TOKEN = "aisweep-test-token-0123456789abcdef"  # throw-away, loopback-only
TEST_LOGIN = ("u", "p")

_jupyter_server_pkgs = (f"jupyter-server=={JUPYTER_SERVER}",)
_jupyterlab_pkgs = (f"jupyterlab=={JUPYTERLAB}", f"jupyter-server=={JUPYTER_SERVER}")
_notebook_pkgs = (f"notebook=={NOTEBOOK}", f"jupyter-server=={JUPYTER_SERVER}")


def _specs() -> dict[str, ServiceSpec]:
    specs = [
        # Jupyter: GET /api reports the jupyter_server version (not the Lab/Notebook version), without auth.
        # Open (empty token, no password): `open-admin`. The kernels, sessions and terminals APIs are reachable
        # without credentials, and POST /api/kernels or /api/terminals is code execution (inferred from the
        # documented API, never exercised).
        ServiceSpec(
            name="jupyter-server-open",
            product="jupyter",
            packages=_jupyter_server_pkgs,
            expect_version=JUPYTER_SERVER,
            expect_auth="open-admin",
            start=_jupyter("server", ""),
            ready_path="/api",
            software=f"jupyter_server {JUPYTER_SERVER} (PyPI)",
        ),
        # Token set: `auth-required`. /api/status, /api/kernels, ... answer 403 without the token; only /api
        # (version) and the login page are public.
        ServiceSpec(
            name="jupyter-server-token",
            product="jupyter",
            packages=_jupyter_server_pkgs,
            expect_version=JUPYTER_SERVER,
            expect_auth="auth-required",
            start=_jupyter("server", TEST_TOKEN),
            ready_path="/api",
            token=TEST_TOKEN,
            software=f"jupyter_server {JUPYTER_SERVER} (PyPI)",
        ),
        # JupyterLab 4.x on the same jupyter_server: same tiers as above, for the same reasons.
        ServiceSpec(
            name="jupyterlab-open",
            product="jupyter",
            packages=_jupyterlab_pkgs,
            expect_version=JUPYTER_SERVER,
            expect_auth="open-admin",
            start=_jupyter("lab", ""),
            ready_path="/api",
            software=f"jupyterlab {JUPYTERLAB} on jupyter_server {JUPYTER_SERVER} (PyPI)",
        ),
        ServiceSpec(
            name="jupyterlab-token",
            product="jupyter",
            packages=_jupyterlab_pkgs,
            expect_version=JUPYTER_SERVER,
            expect_auth="auth-required",
            start=_jupyter("lab", TEST_TOKEN),
            ready_path="/api",
            token=TEST_TOKEN,
            software=f"jupyterlab {JUPYTERLAB} on jupyter_server {JUPYTER_SERVER} (PyPI)",
        ),
        # Notebook 7 is a jupyter_server application too: same tiers as above.
        ServiceSpec(
            name="notebook7-open",
            product="jupyter",
            packages=_notebook_pkgs,
            expect_version=JUPYTER_SERVER,
            expect_auth="open-admin",
            start=_jupyter("notebook", ""),
            ready_path="/api",
            software=f"notebook {NOTEBOOK} on jupyter_server {JUPYTER_SERVER} (PyPI)",
        ),
        ServiceSpec(
            name="notebook7-token",
            product="jupyter",
            packages=_notebook_pkgs,
            expect_version=JUPYTER_SERVER,
            expect_auth="auth-required",
            start=_jupyter("notebook", TEST_TOKEN),
            ready_path="/api",
            token=TEST_TOKEN,
            software=f"notebook {NOTEBOOK} on jupyter_server {JUPYTER_SERVER} (PyPI)",
        ),
        # MLflow without --app-name basic-auth: `open-read`. Experiments, runs and the registry are readable without
        # credentials. The REST API also accepts writes (create/delete experiments, log runs) without credentials,
        # which would fit `open-admin`; we keep `open-read` as docs/samples.md does, because a plain tracking server
        # offers no admin or code-execution API. The lead may raise this.
        ServiceSpec(
            name="mlflow-2.1.1",
            product="mlflow",
            packages=("mlflow==2.1.1", "numpy<2", "setuptools<70"),
            expect_version="2.1.1",
            expect_auth="open-read",
            start=_mlflow(workers=True),
            ready_path="/health",
            software="mlflow 2.1.1 (PyPI)",
        ),
        ServiceSpec(
            name="mlflow-2.9.2",
            product="mlflow",
            packages=("mlflow==2.9.2", "sqlalchemy==2.0.25"),
            expect_version="2.9.2",
            expect_auth="open-read",
            start=_mlflow(workers=True),
            ready_path="/health",
            software="mlflow 2.9.2 (PyPI)",
        ),
        ServiceSpec(
            name="mlflow-current",
            product="mlflow",
            packages=("mlflow==3.17.2",),
            expect_version="3.17.2",
            expect_auth="open-read",
            start=_mlflow(workers=True),
            ready_path="/health",
            software="mlflow 3.17.2 (PyPI)",
        ),
    ]
    # Gradio without auth: `open-read`. /config (the whole UI tree with default values) and the API schema are
    # readable and the app's own functions are callable, which is the app's intended use, not an admin API.
    # With launch(auth=...): `auth-required`. /config and the API answer 401 and / shows a login page.
    gradio_versions = [
        ("3.50.2", ("gradio==3.50.2", "fastapi<0.113")),  # newer starlette drops TemplateResponse(name, ctx)
        ("4.10.0", ("gradio==4.10.0", "huggingface_hub<0.26", "numpy<2", "pydantic<2.10", "fastapi<0.113")),
        ("6.31.0", ("gradio==6.31.0",)),
    ]
    for version, pkgs in gradio_versions:
        base = "gradio-current" if version.startswith("6.") else f"gradio-{version}"
        for login in (None, TEST_LOGIN):
            specs.append(
                ServiceSpec(
                    name=base + ("-auth" if login else ""),
                    product="gradio",
                    packages=pkgs,
                    expect_version=version,
                    expect_auth="auth-required" if login else "open-read",
                    start=_gradio(login),
                    ready_path="/",
                    login=login,
                    software=f"gradio {version} (PyPI)",
                )
            )
    return {s.name: s for s in specs}


SPECS: dict[str, ServiceSpec] = _specs()


# --------------------------------------------------------------------------------------------------------------------
# Venvs


def cache_dir_default() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)


def venv_key(packages: tuple[str, ...]) -> str:
    ident = {"python": f"{sys.version_info.major}.{sys.version_info.minor}", "packages": sorted(packages)}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def venv_path(spec: ServiceSpec, cache_dir: Path | None = None) -> Path:
    return (cache_dir or cache_dir_default()) / venv_key(spec.packages)


def venv_ready(spec: ServiceSpec, cache_dir: Path | None = None) -> bool:
    return (venv_path(spec, cache_dir) / MARKER).is_file()


def venv_info(venv: Path) -> dict[str, object]:
    """The marker written when the venv was completed: packages, build seconds, pip freeze."""
    data: dict[str, object] = json.loads((venv / MARKER).read_text())
    return data


def ensure_venv(spec: ServiceSpec, cache_dir: Path | None = None, *, quiet: bool = True) -> Path:
    """Return a venv with `spec.packages` installed, building it under `<cache_dir>/<hash>/` if needed.

    A marker file is written last, so an interrupted build is detected and redone. A lock file next to the venv keeps
    two processes from building the same one.
    """
    venv = venv_path(spec, cache_dir)
    if (venv / MARKER).is_file():
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / MARKER).is_file():  # another process finished it while we waited
            return venv
        if venv.exists():
            shutil.rmtree(venv)
        started = time.monotonic()
        log = venv.parent / f"{venv.name}.build.log"
        with open(log, "w") as out:
            steps = [
                [sys.executable, "-m", "venv", str(venv)],
                [str(venv / "bin/python"), "-m", "pip", "install", "--no-input", *spec.packages],
            ]
            for argv in steps:
                out.write("$ " + " ".join(argv) + "\n")
                out.flush()
                rc = subprocess.call(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                if rc != 0:
                    raise ServiceError(f"building venv for {spec.name} failed ({rc}):\n{_tail(log)}")
        freeze = subprocess.run(
            [str(venv / "bin/python"), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True
        ).stdout.split()
        marker = {
            "packages": list(spec.packages),
            "python": sys.version.split()[0],
            "build_seconds": round(time.monotonic() - started, 1),
            "freeze": freeze,
        }
        (venv / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        if not quiet:
            print(f"built {venv} for {spec.name} in {marker['build_seconds']} s", file=sys.stderr)
    return venv


def installed_version(venv: Path, dist: str) -> str | None:
    """The installed version of a distribution in a prepared venv (from the pip freeze in its marker)."""
    norm = dist.lower().replace("_", "-")
    freeze = venv_info(venv).get("freeze", [])
    for line in freeze if isinstance(freeze, list) else []:
        name, _, version = str(line).partition("==")
        if name.lower().replace("_", "-") == norm:
            return version
    return None


# --------------------------------------------------------------------------------------------------------------------
# Running


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


# No proxies (a proxy from the environment would take the request off the machine) and no redirects.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def http_get(port: int, path: str, timeout: float = 5.0, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    """GET http://127.0.0.1:PORT/PATH (only ever loopback): status and body, without following redirects."""
    if not path.startswith("/"):
        raise ValueError(f"path must start with /: {path!r}")
    req = urllib.request.Request(f"http://{LOOPBACK}:{port}{path}", headers=dict(headers or {}))
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def service_env(venv: Path, workdir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment: telemetry off, HOME and XDG dirs in the work directory, the venv's bin first on PATH."""
    env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "/usr/local/bin:/usr/bin:/bin")])
    env.update(
        {
            "HOME": str(workdir),
            "XDG_CONFIG_HOME": str(workdir / ".config"),
            "XDG_CACHE_HOME": str(workdir / ".cache"),
            "XDG_DATA_HOME": str(workdir / ".local/share"),
            "TMPDIR": str(workdir / "tmp"),
            "MPLCONFIGDIR": str(workdir / ".config/matplotlib"),
            "VIRTUAL_ENV": str(venv),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "NO_PROXY": "*",
            "no_proxy": "*",
        }
    )
    env.update(TELEMETRY_OFF)
    env.update(extra or {})
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    return env


def describe_launch(spec: ServiceSpec, venv: Path, port: int, workdir: Path | None = None) -> str:
    """A spec's command line for the `how` of a sample: port as P, work directory as DIR, venv bin/ dropped."""
    with tempfile.TemporaryDirectory() as scratch:  # start functions write files: leave the real workdir alone
        launch = spec.start(LaunchContext(venv=venv, port=port, workdir=Path(scratch)))
        parts = []
        for arg in launch.argv:
            arg = arg.replace(str(venv / "bin") + "/", "").replace(scratch, "DIR")
            if workdir is not None:
                arg = arg.replace(str(workdir), "DIR")
            if spec.token:
                arg = arg.replace(spec.token, "<token>")
            if arg == str(port) or arg.endswith(f"={port}"):
                arg = arg[: -len(str(port))] + "P"
            parts.append(arg)
    text = " ".join(parts)
    if spec.product == "gradio":
        auth = f", auth={spec.login!r}" if spec.login else ""
        text += (
            '; app.py: gr.Interface(fn=greet, inputs="text", outputs="text", title="aisweep test app")'
            f'.launch(server_name="127.0.0.1", server_port=P{auth})'
        )
    return text + "; pip: " + " ".join(spec.packages)


def _stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the service's process group (its own session), then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure no child of it lingers in the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


@contextlib.contextmanager
def running(
    spec_name: str,
    workdir: Path | None = None,
    *,
    cache_dir: Path | None = None,
    timeout: float = READY_TIMEOUT,
) -> Iterator[RunningService]:
    """Start a spec on a free 127.0.0.1 port, wait until it answers, yield it, and stop it on exit.

    Without `workdir` a temporary directory is used and removed afterwards.
    """
    spec = SPECS[spec_name]
    venv = ensure_venv(spec, cache_dir)
    own_workdir = workdir is None
    wd = Path(tempfile.mkdtemp(prefix=f"aisweep-{spec.name}-")) if workdir is None else Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    port = free_port()
    launch = spec.start(LaunchContext(venv=venv, port=port, workdir=wd))
    env = service_env(venv, wd, launch.env)
    log_path = wd / "service.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                launch.argv,
                cwd=wd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_ready(spec, proc, port, log_path, timeout)
        yield RunningService(
            spec=spec,
            base_url=f"http://{LOOPBACK}:{port}",
            port=port,
            log_path=log_path,
            workdir=wd,
            venv=venv,
            process=proc,
        )
    finally:
        if proc is not None:
            _stop(proc)
        if own_workdir:
            shutil.rmtree(wd, ignore_errors=True)


def _wait_ready(spec: ServiceSpec, proc: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        rc = proc.poll()
        if rc is not None:
            raise ServiceError(f"{spec.name} exited with {rc} before it was ready; log tail:\n{_tail(log_path)}")
        try:
            status, _ = http_get(port, spec.ready_path, timeout=5.0)
        except (OSError, urllib.error.URLError) as err:
            last = repr(err)
        else:
            if status == spec.ready_status:
                return
            last = f"HTTP {status}"
        time.sleep(0.5)
    raise ServiceError(
        f"{spec.name} not ready after {timeout:.0f} s on {spec.ready_path} ({last}); log tail:\n{_tail(log_path)}"
    )


def run_in_venv(svc: RunningService, code: str, timeout: float = 120.0) -> str:
    """Run Python code with the service's venv (e.g. a client seeding data); the service URL is in AISWEEP_BASE_URL."""
    env = service_env(svc.venv, svc.workdir, {"AISWEEP_BASE_URL": svc.base_url, "MLFLOW_TRACKING_URI": svc.base_url})
    out = subprocess.run(
        [str(svc.venv / "bin/python"), "-c", code],
        cwd=svc.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if out.returncode != 0:
        raise ServiceError(f"seeding {svc.spec.name} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return out.stdout


def mlflow_seed(svc: RunningService, experiments: tuple[str, ...] = ("aisweep-exp-1", "aisweep-exp-2"),
                registered_models: tuple[str, ...] = ("aisweep-model",)) -> None:  # fmt: skip
    """Create experiments and registered models through the MLflow client of the service's own venv."""
    code = textwrap.dedent(
        f"""\
        import os
        from mlflow.tracking import MlflowClient
        c = MlflowClient(tracking_uri=os.environ["AISWEEP_BASE_URL"], registry_uri=os.environ["AISWEEP_BASE_URL"])
        for name in {list(experiments)!r}:
            c.create_experiment(name)
        for name in {list(registered_models)!r}:
            c.create_registered_model(name)
        """
    )
    run_in_venv(svc, code)


# --------------------------------------------------------------------------------------------------------------------
# CLI


def _cmd_list(cache_dir: Path) -> None:
    for spec in SPECS.values():
        state = "ready" if venv_ready(spec, cache_dir) else "-"
        print(f"{spec.name:24} {spec.product:8} {spec.expect_version:8} {spec.expect_auth:14} {state:6} "
              f"{' '.join(spec.packages)}")  # fmt: skip


def _cmd_prepare(names: list[str], cache_dir: Path) -> None:
    for name in names:
        spec = SPECS[name]
        venv = ensure_venv(spec, cache_dir, quiet=False)
        print(f"{name}: {venv} (built in {venv_info(venv).get('build_seconds')} s)")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _cmd_up(name: str, cache_dir: Path) -> None:
    # Stop cleanly on Ctrl-C and on SIGTERM/SIGHUP, also when started in the background (SIGINT ignored there).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    with running(name, cache_dir=cache_dir) as svc:
        print(svc.base_url, flush=True)
        if svc.spec.token:
            print(f"token: {svc.spec.token}")
        if svc.spec.login:
            print(f"login: {svc.spec.login[0]} / {svc.spec.login[1]}")
        print(f"log: {svc.log_path}\nCtrl-C stops it.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)
                if not svc.alive():
                    print(f"{name} exited; log tail:\n{_tail(svc.log_path)}", file=sys.stderr)
                    break


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache-dir", type=Path, help=f"venv cache (default: ${CACHE_ENV} or .cache/realsvc)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list the service specs")
    p_prep = sub.add_parser("prepare", help="build the venvs of these specs")
    p_prep.add_argument("names", nargs="+", choices=sorted(SPECS), metavar="NAME")
    p_up = sub.add_parser("up", help="start a service on 127.0.0.1 and keep it running until Ctrl-C")
    p_up.add_argument("name", choices=sorted(SPECS), metavar="NAME")
    args = ap.parse_args(argv)
    cache_dir = args.cache_dir or cache_dir_default()
    try:
        if args.cmd == "list":
            _cmd_list(cache_dir)
        elif args.cmd == "prepare":
            _cmd_prepare(args.names, cache_dir)
        else:
            _cmd_up(args.name, cache_dir)
    except ServiceError as err:
        sys.exit(str(err))


if __name__ == "__main__":
    main()
