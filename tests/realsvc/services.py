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

# Each product's well-known port (the first its rule lists). The matrix binds it inside its private network namespace,
# where it is always free; elsewhere services get a free port, as two services (or developers) may share the host.
DEFAULT_PORTS: Mapping[str, int] = {
    "jupyter": 8888,
    "mlflow": 5000,
    "gradio": 7860,
    "ray": 8265,
    "chromadb": 8000,
    "litellm": 4000,
    "open-webui": 8080,
    "streamlit": 8501,
    "tensorboard": 6006,
    "bentoml": 3000,
    "label-studio": 8080,
    "marimo": 2718,
    "arize-phoenix": 6006,
    "aim": 43800,
    "dask": 8787,
}

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
    "SCARF_NO_ANALYTICS": "true",
    "TRANSFORMERS_OFFLINE": "1",
    "ENABLE_VERSION_UPDATE_CHECK": "false",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    "PHOENIX_TELEMETRY_ENABLED": "false",
    "COLLECT_ANALYTICS": "false",
    "AIM_UI_TELEMETRY_ENABLED": "0",
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
SeedFn = Callable[["RunningService"], None]


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # e.g. "jupyter-server-token"
    product: str  # rule id: "jupyter", "mlflow", "gradio"
    packages: tuple[str, ...]  # pip requirements, pinned
    expect_version: str | None  # exact version string the scan must report; None: hidden in this state (none)
    expect_auth: str  # auth tier, see docs/samples.md
    start: StartFn
    ready_path: str = "/"
    ready_status: int | tuple[int, ...] = 200
    token: str | None = None  # Jupyter token, when the spec sets one
    login: tuple[str, str] | None = None  # username/password of an app login (Gradio auth=)
    software: str = ""  # for sample files: "mlflow 2.9.2 (PyPI)"
    state: str = ""  # the state that matters, in words: "token auth", "WEBUI_AUTH=False, fresh"
    expect_variant: str | None = None  # the rule's variant the scan must report; None: not checked
    python: str | None = None  # interpreter "3.10" for the venv (pyenv or PATH); None: the running Python
    pre_packages: tuple[str, ...] = ()  # installed in a first pip step (CPU torch before open-webui)
    needs_netns: bool = False  # binds ports on all interfaces: start only in a loopback-only network namespace
    seed: SeedFn | None = None  # run once the service is ready (create data so surface counts are non-zero)
    ready_timeout: float = READY_TIMEOUT
    unavailable: str = ""  # why this spec cannot run on this machine (set at import, e.g. no Python 3.10)
    hidden_version: str | None = None  # with expect_version None: the real version, which the scan may infer


@dataclass(frozen=True)
class RunningService:
    spec: ServiceSpec
    base_url: str
    port: int
    log_path: Path
    workdir: Path
    venv: Path
    process: subprocess.Popen[bytes] = field(repr=False, compare=False)
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)  # the spec's Launch.env

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


def _wait_until(svc: RunningService, what: str, check: Callable[[], bool], timeout: float = 90.0) -> None:
    """Poll `check` until it holds (a seed waiting for the service to pick up its data)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, urllib.error.URLError):
            if check():
                return
        if not svc.alive():
            break
        time.sleep(1.0)
    raise ServiceError(
        f"{svc.spec.name}: {what} did not happen within {timeout:.0f} s; log tail:\n{_tail(svc.log_path)}"
    )


def _json_count(svc: RunningService, path: str, minimum: int) -> Callable[[], bool]:
    """A check: GET path answers 200 with a JSON list (or dict) of at least `minimum` entries."""

    def check() -> bool:
        status, body = http_get(svc.port, path)
        return status == 200 and len(json.loads(body)) >= minimum

    return check


def run_tool(svc: RunningService, argv: list[str], timeout: float = 180.0) -> str:
    """Run a command of the service's venv (its bin/ first on PATH) with the service's environment."""
    env = service_env(svc.venv, svc.workdir, {**svc.env, "AISWEEP_BASE_URL": svc.base_url})
    out = subprocess.run(
        argv, cwd=svc.workdir, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if out.returncode != 0:
        raise ServiceError(f"{svc.spec.name}: {' '.join(argv[:4])} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out.stdout


# Ray: `ray start --head --block`, everything on 127.0.0.1 (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, else the gRPC ports
# bind the host address). Token auth (2.5x+): RAY_AUTH_MODE=token with the token in RAY_AUTH_TOKEN_PATH.
RAY_TOKEN = "aisweeptesttoken0123456789abcdef"  # throw-away, loopback-only


def _ray(token: bool) -> StartFn:
    def start(ctx: LaunchContext) -> Launch:
        env = {
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "DASHBOARD_METRIC_PORT": str(free_port()),
            "AUTOSCALER_METRIC_PORT": str(free_port()),
        }
        if token:
            path = ctx.workdir / "ray-token"
            path.write_text(RAY_TOKEN + "\n")
            env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(path)}
        argv = [
            ctx.bin("ray"),
            "start",
            "--head",
            "--block",
            "--node-ip-address",
            LOOPBACK,
            "--port",
            str(free_port()),
            "--dashboard-host",
            LOOPBACK,
            "--dashboard-port",
            str(ctx.port),
            "--num-cpus",
            "1",
            "--object-store-memory",
            "200000000",
            "--temp-dir",
            str(ctx.workdir / "r"),  # short: Ray's unix socket paths must stay under 108 bytes
        ]
        return Launch(tuple(argv), env)

    return start


def _ray_seed(svc: RunningService) -> None:
    """One job through the Jobs API (`ray job submit -- echo hello`), so jobs/nodes/actors are non-zero."""
    argv = [str(svc.venv / "bin/ray"), "job", "submit", "--address", svc.base_url, "--", "echo", "hello"]
    for attempt in range(4):  # the job agent may come up a little after the dashboard
        try:
            run_tool(svc, argv)
            return
        except ServiceError:
            if attempt == 3:
                raise
            time.sleep(5)


# ChromaDB: `chroma run`; token auth through environment variables (names changed in 0.5).
CHROMA_TOKEN = "aisweep-chroma-test-token"


def _chroma(auth: str | None) -> StartFn:
    def start(ctx: LaunchContext) -> Launch:
        env: dict[str, str] = {}
        if auth == "0.4":
            env = {
                "CHROMA_SERVER_AUTH_PROVIDER": "chromadb.auth.token.TokenAuthServerProvider",
                "CHROMA_SERVER_AUTH_CREDENTIALS_PROVIDER": (
                    "chromadb.auth.token.TokenConfigServerAuthCredentialsProvider"
                ),
                "CHROMA_SERVER_AUTH_CREDENTIALS": CHROMA_TOKEN,
            }
        elif auth == "0.5":
            env = {
                "CHROMA_SERVER_AUTHN_PROVIDER": "chromadb.auth.token_authn.TokenAuthenticationServerProvider",
                "CHROMA_SERVER_AUTHN_CREDENTIALS": CHROMA_TOKEN,
            }
        argv = [
            ctx.bin("chroma"),
            "run",
            "--host",
            LOOPBACK,
            "--port",
            str(ctx.port),
            "--path",
            str(ctx.workdir / "data"),
        ]
        return Launch(tuple(argv), env)

    return start


def _chroma_seed(svc: RunningService) -> None:
    """Two collections with one record each, through the Python HttpClient."""
    code = textwrap.dedent(
        """\
        import os, chromadb
        c = chromadb.HttpClient(host="127.0.0.1", port=int(os.environ["AISWEEP_PORT"]))
        for n in ("aisweep-test-a", "aisweep-test-b"):
            col = c.get_or_create_collection(n)
            col.add(ids=["1"], documents=["hello"], embeddings=[[0.1, 0.2, 0.3]])
        """
    )
    run_in_venv(svc, code)


# LiteLLM proxy: two models routed to a dead loopback port; with or without a master key.
LITELLM_KEY = "sk-1234-aisweep-test-master-key"
LITELLM_CONFIG = textwrap.dedent(
    """\
    model_list:
      - model_name: gpt-4o
        litellm_params:
          model: openai/gpt-4o
          api_base: http://127.0.0.1:9/v1
          api_key: sk-aisweep-test-not-a-real-key
      - model_name: local-llama
        litellm_params:
          model: openai/llama-3-8b
          api_base: http://127.0.0.1:9/v1
          api_key: sk-aisweep-test-not-a-real-key
    general_settings:
      {general}
    litellm_settings:
      telemetry: false
    """
)


def _litellm(master_key: bool) -> StartFn:
    def start(ctx: LaunchContext) -> Launch:
        general = f"master_key: {LITELLM_KEY}" if master_key else "dangerously_permit_weak_or_unset_master_key: true"
        cfg = ctx.workdir / "config.yaml"
        cfg.write_text(LITELLM_CONFIG.replace("{general}", general))
        argv = [ctx.bin("litellm"), "--config", str(cfg), "--host", LOOPBACK, "--port", str(ctx.port)]
        return Launch(tuple(argv), {"LITELLM_LOCAL_MODEL_COST_MAP": "True"})

    return start


# Open WebUI: offline, Ollama pointed at a dead loopback port, fresh DATA_DIR.
OWUI_ADMIN = ("aisweep admin", "admin@example.com", "Aisweep-test-pw-1")


def _open_webui(auth: bool) -> StartFn:
    def start(ctx: LaunchContext) -> Launch:
        env = {
            "DATA_DIR": str(ctx.workdir / "data"),
            "HF_HOME": str(ctx.workdir / "hf"),
            "OLLAMA_BASE_URL": "http://127.0.0.1:9",
            "WEBUI_SECRET_KEY": "aisweep-test-secret-not-real",
        }
        if not auth:
            env["WEBUI_AUTH"] = "False"
        argv = [ctx.bin("open-webui"), "serve", "--host", LOOPBACK, "--port", str(ctx.port)]
        return Launch(tuple(argv), env)

    return start


def _open_webui_signup_admin(svc: RunningService) -> None:
    """The first visitor signs up (and becomes admin); 0.12.4 then turns sign-up off by itself."""
    name, email, password = OWUI_ADMIN
    status, body = http_post(svc.port, "/api/v1/auths/signup", {"name": name, "email": email, "password": password})
    if status != 200:
        raise ServiceError(f"{svc.spec.name}: signup answered {status}: {body[:300]!r}")


# Streamlit: a two-line app; 1.6x can also serve its agent API document (with the version).
STREAMLIT_APP = 'import streamlit as st\n\nst.title("aisweep test app")\nst.write("hello")\n'


def _streamlit(agent_api: bool = False) -> StartFn:
    def start(ctx: LaunchContext) -> Launch:
        (ctx.workdir / "app.py").write_text(STREAMLIT_APP)
        argv = [
            ctx.bin("streamlit"),
            "run",
            "app.py",
            "--server.address",
            LOOPBACK,
            "--server.port",
            str(ctx.port),
            "--server.headless",
            "true",
        ]
        if agent_api:
            argv.append("--server.enableAgentApi=true")
        return Launch(tuple(argv))

    return start


# TensorBoard: two runs (train, eval) with one scalar tag each, written before it starts.
TB_LOGS = textwrap.dedent(
    """\
    import time
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    for run in ("train", "eval"):
        w = EventFileWriter(f"logs/{run}")
        for step in range(5):
            s = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="loss", simple_value=1.0 / (step + 1))])
            w.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=s))
        w.close()
    """
)


def _tensorboard(ctx: LaunchContext) -> Launch:
    (ctx.workdir / "mklogs.py").write_text(TB_LOGS)
    script = (
        f"{ctx.bin('python')} mklogs.py && exec {ctx.bin('tensorboard')} --logdir logs --host {LOOPBACK} "
        f"--port {ctx.port}"
    )
    return Launch(("/bin/sh", "-c", script))


def _tensorboard_seed(svc: RunningService) -> None:
    _wait_until(svc, "both runs listed", _json_count(svc, "/data/runs", 2))


# BentoML: a new-SDK service with two APIs; one POST /echo before the scan.
BENTO_SERVICE = textwrap.dedent(
    """\
    import bentoml


    @bentoml.service
    class Summarizer:
        @bentoml.api
        def summarize(self, text: str) -> str:
            return text[:20]

        @bentoml.api
        def echo(self, text: str) -> str:
            return text
    """
)


def _bentoml(ctx: LaunchContext) -> Launch:
    (ctx.workdir / "service.py").write_text(BENTO_SERVICE)
    argv = [ctx.bin("bentoml"), "serve", "service:Summarizer", "--host", LOOPBACK, "--port", str(ctx.port)]
    return Launch(tuple(argv), {"BENTOML_HOME": str(ctx.workdir / "bentoml")})


def _bentoml_seed(svc: RunningService) -> None:
    status, body = http_post(svc.port, "/echo", {"text": "hello"})
    if status != 200:
        raise ServiceError(f"{svc.spec.name}: POST /echo answered {status}: {body[:300]!r}")


# Label Studio: one user created at start; sign-up open by default, or only through an invite link.
LS_USER = ("admin@example.com", "Aisweep-test-pw-1", "0123456789abcdef0123456789abcdef01234567")


def _label_studio(signup_disabled: bool) -> StartFn:
    def start(ctx: LaunchContext) -> Launch:
        env = {
            "LABEL_STUDIO_BASE_DATA_DIR": str(ctx.workdir / "data"),
            "GIT_CEILING_DIRECTORIES": str(ctx.workdir.parent),  # it runs `git` to describe itself
        }
        if signup_disabled:
            env["LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK"] = "true"
        user, password, token = LS_USER
        argv = [
            ctx.bin("label-studio"),
            "start",
            "--internal-host",
            LOOPBACK,
            "--port",
            str(ctx.port),
            "--no-browser",
            "--username",
            user,
            "--password",
            password,
            "--user-token",
            token,
        ]
        return Launch(tuple(argv), env)

    return start


# marimo: `marimo edit` (notebook editor: code execution) or `marimo run` (app), with or without a token password.
MARIMO_NB = textwrap.dedent(
    """\
    import marimo

    app = marimo.App()


    @app.cell
    def _():
        import marimo as mo
        mo.md("aisweep test notebook")
        return (mo,)


    if __name__ == "__main__":
        app.run()
    """
)
MARIMO_PASSWORD = "aisweep-marimo-secret"


def _marimo(mode: str, token: bool) -> StartFn:
    def start(ctx: LaunchContext) -> Launch:
        (ctx.workdir / "nb.py").write_text(MARIMO_NB)
        argv = [ctx.bin("marimo"), mode, "nb.py", "--host", LOOPBACK, "-p", str(ctx.port), "--headless"]
        if token:
            argv += (["--token"] if mode == "run" else []) + ["--token-password", MARIMO_PASSWORD]
        elif mode == "edit":
            argv.append("--no-token")
        return Launch(tuple(argv), {"MARIMO_SKIP_UPDATE_CHECK": "1"})

    return start


# Arize Phoenix: `phoenix serve`; its gRPC collector binds [::] whatever PHOENIX_HOST says (netns only).
PHOENIX_SECRET = "aisweep-Test-Secret-0123456789-abcdefXYZ"
PHOENIX_TRACE = textwrap.dedent(
    """\
    import os
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    tp = TracerProvider(resource=Resource.create({"openinference.project.name": "demo-app"}))
    endpoint = os.environ["AISWEEP_BASE_URL"] + "/v1/traces"
    tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    with tp.get_tracer("aisweep-test").start_as_current_span("llm-call") as s:
        s.set_attribute("openinference.span.kind", "LLM")
        s.set_attribute("input.value", "What is 2+2?")
        s.set_attribute("output.value", "4")
    tp.shutdown()
    """
)


def _phoenix(auth: bool) -> StartFn:
    def start(ctx: LaunchContext) -> Launch:
        env = {
            "PHOENIX_HOST": LOOPBACK,
            "PHOENIX_PORT": str(ctx.port),
            "PHOENIX_GRPC_PORT": str(free_port()),
            "PHOENIX_WORKING_DIR": str(ctx.workdir / "phoenix"),
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
        }
        if auth:
            env |= {"PHOENIX_ENABLE_AUTH": "True", "PHOENIX_SECRET": PHOENIX_SECRET}
        return Launch((ctx.bin("phoenix"), "serve"), env)

    return start


def _phoenix_seed(svc: RunningService) -> None:
    """One OTLP/HTTP trace into project demo-app (besides the default project)."""
    run_in_venv(svc, PHOENIX_TRACE)


# Aim: a repo with two runs of experiment "demo", then `aim up`.
AIM_RUNS = textwrap.dedent(
    """\
    from aim import Run

    for name in ("baseline", "lr-sweep"):
        r = Run(experiment="demo")
        r.name = name
        r["hparams"] = {"lr": 0.01}
        for i in range(5):
            r.track(1.0 / (i + 1), name="loss", step=i)
        r.close()
    """
)


def _aim(ctx: LaunchContext) -> Launch:
    (ctx.workdir / "mkruns.py").write_text(AIM_RUNS)
    script = (
        f"{ctx.bin('aim')} init --repo . && {ctx.bin('python')} mkruns.py && "
        f"exec {ctx.bin('aim')} up --host {LOOPBACK} --port {ctx.port} --repo ."
    )
    return Launch(("/bin/sh", "-c", script))


# Dask: a scheduler with its dashboard, one worker and one client holding three finished futures, all on 127.0.0.1.
DASK_LAUNCHER = textwrap.dedent(
    """\
    import os, subprocess, sys, time
    from distributed import Client

    port, sched = sys.argv[1], sys.argv[2]
    bindir = os.path.dirname(sys.executable)
    s = subprocess.Popen([bindir + "/dask", "scheduler", "--host", "127.0.0.1", "--port", sched,
                          "--dashboard-address", "127.0.0.1:" + port])
    w = subprocess.Popen([bindir + "/dask", "worker", "tcp://127.0.0.1:" + sched, "--no-nanny", "--nthreads", "1",
                          "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"])
    c = Client("tcp://127.0.0.1:" + sched, timeout=60)
    c.wait_for_workers(1, timeout=60)
    futures = [c.submit(pow, i, 2, key=f"square-{i}") for i in range(3)]
    print([f.result() for f in futures], flush=True)
    open("seeded", "w").write("ok")
    while s.poll() is None and w.poll() is None:
        time.sleep(1)
    sys.exit(1)
    """
)


def _dask(ctx: LaunchContext) -> Launch:
    (ctx.workdir / "cluster.py").write_text(DASK_LAUNCHER)
    return Launch((ctx.bin("python"), "cluster.py", str(ctx.port), str(free_port())))


def _dask_seed(svc: RunningService) -> None:
    _wait_until(svc, "the worker and the client's futures", (svc.workdir / "seeded").is_file)


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
            state="no token, no password",
            expect_variant="jupyter-server",
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
            state="token",
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
            state="no token, no password",
            expect_variant="jupyterlab",
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
            state="token",
            expect_variant="jupyterlab",
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
            state="no token, no password",
            expect_variant="notebook",
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
            state="token",
            expect_variant="notebook",
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
            state="no auth (no --app-name basic-auth)",
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
            state="no auth (no --app-name basic-auth)",
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
            state="no auth (no --app-name basic-auth)",
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
                    expect_version=None if login else version,  # hidden behind the login (asset hashes tell)
                    hidden_version=version if login else None,
                    expect_auth="auth-required" if login else "open-read",
                    start=_gradio(login),
                    ready_path="/",
                    login=login,
                    software=f"gradio {version} (PyPI)",
                    state="launch(auth=...)" if login else "no auth",
                    expect_variant="gradio-5+" if version.startswith("6.") else None,
                )
            )
    specs += _more_specs()
    return {s.name: s for s in specs}


RAY_263_PKGS = (
    "ray[default]==2.6.3",
    "numpy<2",
    "pydantic<2",
    "setuptools<70",
    "async_timeout",
    "protobuf<4.26",
    "googleapis-common-protos<1.63",
    "google-api-core<2.18",
    "grpcio<1.60",
)
RAY_CURRENT = "2.60.0"
CHROMA_04_PKGS = ("chromadb==0.4.24", "numpy<2", "fastapi==0.110.0", "pydantic<2.7")
CHROMA_05_PKGS = ("chromadb==0.5.23", "fastapi==0.115.6", "pydantic==2.10.6")
LITELLM = "1.106.12"
OPEN_WEBUI = "0.12.4"
CPU_TORCH = ("torch==2.13.0",)  # a CPU build lies on local disk; without it pip pulls a multi-GB CUDA build


def _more_specs() -> list[ServiceSpec]:
    """Ray, ChromaDB, LiteLLM, Open WebUI, Streamlit, TensorBoard, BentoML, Label Studio, marimo, Phoenix, Aim, Dask.

    The tiers follow the recorded samples in src/aisweep/rules/samples/<product>/ (their `how` says why).
    """
    specs = [
        # Ray 2.6.3 needs Python 3.10 (no 3.11 wheels) and old pins. Open: the Jobs API runs any command.
        ServiceSpec(
            name="ray-2.6.3",
            product="ray",
            packages=RAY_263_PKGS,
            python="3.10",
            expect_version="2.6.3",
            expect_auth="open-admin",
            start=_ray(token=False),
            ready_path="/api/version",
            seed=_ray_seed,
            ready_timeout=180,
            software="ray[default] 2.6.3 (PyPI, Python 3.10)",
            state="no auth (none exists); one job submitted",
        ),
        ServiceSpec(
            name="ray-current",
            product="ray",
            packages=(f"ray[default]=={RAY_CURRENT}",),
            expect_version=RAY_CURRENT,
            expect_auth="open-admin",
            start=_ray(token=False),
            ready_path="/api/version",
            seed=_ray_seed,
            ready_timeout=180,
            software=f"ray[default] {RAY_CURRENT} (PyPI)",
            state="token auth off (default); one job submitted",
        ),
        # With RAY_AUTH_MODE=token even /api/version answers 401: no version.
        ServiceSpec(
            name="ray-current-token",
            product="ray",
            packages=(f"ray[default]=={RAY_CURRENT}",),
            expect_version=None,
            hidden_version=RAY_CURRENT,
            expect_auth="auth-required",
            start=_ray(token=True),
            ready_path="/api/version",
            ready_status=(200, 401),
            seed=_ray_seed,
            ready_timeout=180,
            token=RAY_TOKEN,
            software=f"ray[default] {RAY_CURRENT} (PyPI)",
            state="RAY_AUTH_MODE=token; one job submitted with the token",
        ),
    ]
    # ChromaDB 0.4/0.5 (Python FastAPI server): open `open-read` (collections listed), token `auth-required`.
    # 1.x (Rust frontend) hard-codes 1.0.0 as its version: none expected.
    for version, pkgs, authkind in (("0.4.24", CHROMA_04_PKGS, "0.4"), ("0.5.23", CHROMA_05_PKGS, "0.5")):
        for token in (False, True):
            specs.append(
                ServiceSpec(
                    name=f"chromadb-{version}" + ("-token" if token else ""),
                    product="chromadb",
                    packages=pkgs,
                    expect_version=version,
                    expect_auth="auth-required" if token else "open-read",
                    start=_chroma(authkind if token else None),
                    ready_path="/api/v1/heartbeat",
                    ready_status=(200, 401, 403),
                    seed=None if token else _chroma_seed,
                    token=CHROMA_TOKEN if token else None,
                    software=f"chromadb {version} (PyPI)",
                    state="token auth" if token else "no auth; 2 collections",
                )
            )
    specs += [
        ServiceSpec(
            name="chromadb-current",
            product="chromadb",
            packages=("chromadb==1.5.9",),
            expect_version=None,
            hidden_version="1.5.9",
            expect_auth="open-read",
            start=_chroma(None),
            ready_path="/api/v2/heartbeat",
            seed=_chroma_seed,
            software="chromadb 1.5.9 (PyPI)",
            state="no auth; 2 collections",
        ),
        # LiteLLM proxy without a master key: `open-admin` (key and model management open). With one: `auth-required`
        # (prisma installed as in the Docker image; without it failed auth is a 500).
        ServiceSpec(
            name="litellm-nokey",
            product="litellm",
            packages=(f"litellm[proxy]=={LITELLM}",),
            expect_version=LITELLM,
            expect_auth="open-admin",
            start=_litellm(master_key=False),
            ready_path="/health/liveliness",
            software=f"litellm[proxy] {LITELLM} (PyPI)",
            state="no master key; 2 models",
        ),
        ServiceSpec(
            name="litellm-key",
            product="litellm",
            packages=(f"litellm[proxy]=={LITELLM}", "prisma==0.11.0"),
            expect_version=LITELLM,
            expect_auth="auth-required",
            start=_litellm(master_key=True),
            ready_path="/health/liveliness",
            token=LITELLM_KEY,
            software=f"litellm[proxy] {LITELLM} + prisma 0.11.0 (PyPI)",
            state="master key set",
        ),
        # Open WebUI: fresh with auth on, nobody signed up: `first-visitor-admin`. After the first sign-up (admin),
        # 0.12.4 turns sign-up off: `auth-required`. WEBUI_AUTH=False: `open-admin` (any visitor is admin).
        ServiceSpec(
            name="open-webui-onboarding",
            product="open-webui",
            packages=(f"open-webui=={OPEN_WEBUI}",),
            pre_packages=CPU_TORCH,
            expect_version=OPEN_WEBUI,
            expect_auth="first-visitor-admin",
            start=_open_webui(auth=True),
            ready_path="/health",
            ready_timeout=600,
            software=f"open-webui {OPEN_WEBUI} (PyPI, CPU torch 2.13.0)",
            state="auth on, fresh (no user yet)",
        ),
        ServiceSpec(
            name="open-webui-login",
            product="open-webui",
            packages=(f"open-webui=={OPEN_WEBUI}",),
            pre_packages=CPU_TORCH,
            expect_version=OPEN_WEBUI,
            expect_auth="auth-required",
            start=_open_webui(auth=True),
            ready_path="/health",
            ready_timeout=600,
            seed=_open_webui_signup_admin,
            login=(OWUI_ADMIN[1], OWUI_ADMIN[2]),
            software=f"open-webui {OPEN_WEBUI} (PyPI, CPU torch 2.13.0)",
            state="auth on, admin signed up (sign-up then off)",
        ),
        ServiceSpec(
            name="open-webui-noauth",
            product="open-webui",
            packages=(f"open-webui=={OPEN_WEBUI}",),
            pre_packages=CPU_TORCH,
            expect_version=OPEN_WEBUI,
            expect_auth="open-admin",
            start=_open_webui(auth=False),
            ready_path="/health",
            ready_timeout=600,
            software=f"open-webui {OPEN_WEBUI} (PyPI, CPU torch 2.13.0)",
            state="WEBUI_AUTH=False, fresh",
        ),
        # Streamlit has no server auth: `open-read`. The version shows only in the agent API document (1.6x, opt-in).
        ServiceSpec(
            name="streamlit-1.37.1",
            product="streamlit",
            packages=("streamlit==1.37.1",),
            expect_version=None,
            hidden_version="1.37.1",
            expect_auth="open-read",
            start=_streamlit(),
            ready_path="/_stcore/health",
            software="streamlit 1.37.1 (PyPI)",
            state="default (Tornado server)",
        ),
        ServiceSpec(
            name="streamlit-current",
            product="streamlit",
            packages=("streamlit==1.67.0",),
            expect_version=None,
            hidden_version="1.67.0",
            expect_auth="open-read",
            start=_streamlit(),
            ready_path="/_stcore/health",
            software="streamlit 1.67.0 (PyPI)",
            state="default",
        ),
        ServiceSpec(
            name="streamlit-current-agent-api",
            product="streamlit",
            packages=("streamlit==1.67.0",),
            expect_version="1.67.0",
            expect_auth="open-read",
            expect_variant="agent-api-enabled",
            start=_streamlit(agent_api=True),
            ready_path="/_stcore/health",
            software="streamlit 1.67.0 (PyPI)",
            state="--server.enableAgentApi=true",
        ),
        ServiceSpec(
            name="tensorboard",
            product="tensorboard",
            packages=("tensorboard==2.21.0",),
            expect_version="2.21.0",
            expect_auth="open-read",
            start=_tensorboard,
            ready_path="/data/logdir",
            seed=_tensorboard_seed,
            software="tensorboard 2.21.0 (PyPI)",
            state="no auth (none exists); 2 runs",
        ),
        ServiceSpec(
            name="bentoml",
            product="bentoml",
            packages=("bentoml==1.4.40",),
            expect_version="1.4.40",
            expect_auth="open-read",
            expect_variant="new-sdk",
            start=_bentoml,
            ready_path="/readyz",
            seed=_bentoml_seed,
            ready_timeout=180,
            software="bentoml 1.4.40 (PyPI)",
            state="no auth; new-SDK service with 2 APIs",
        ),
        # Label Studio: anyone can sign up by default (`open-signup`); with LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK
        # only an invite link registers (`auth-required`).
        ServiceSpec(
            name="label-studio-signup",
            product="label-studio",
            packages=("label-studio==1.23.2",),
            expect_version="1.23.2",
            expect_auth="open-signup",
            start=_label_studio(signup_disabled=False),
            ready_path="/health",
            ready_timeout=600,
            login=(LS_USER[0], LS_USER[1]),
            software="label-studio 1.23.2 (PyPI)",
            state="default: sign-up open; one user",
        ),
        ServiceSpec(
            name="label-studio-signup-disabled",
            product="label-studio",
            packages=("label-studio==1.23.2",),
            expect_version="1.23.2",
            expect_auth="auth-required",
            start=_label_studio(signup_disabled=True),
            ready_path="/health",
            ready_timeout=600,
            login=(LS_USER[0], LS_USER[1]),
            software="label-studio 1.23.2 (PyPI)",
            state="LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true; one user",
        ),
        # marimo edit without a token: `open-admin` (the editor runs code). marimo run: `open-read` (the app).
        # With a token password everything but /health and the login page answers 401, version included.
        ServiceSpec(
            name="marimo-edit",
            product="marimo",
            packages=("marimo==0.25.2",),
            expect_version="0.25.2",
            expect_auth="open-admin",
            expect_variant="edit",
            start=_marimo("edit", token=False),
            ready_path="/health",
            software="marimo 0.25.2 (PyPI)",
            state="edit --no-token",
        ),
        ServiceSpec(
            name="marimo-edit-token",
            product="marimo",
            packages=("marimo==0.25.2",),
            expect_version=None,
            hidden_version="0.25.2",
            expect_auth="auth-required",
            start=_marimo("edit", token=True),
            ready_path="/health",
            token=MARIMO_PASSWORD,
            software="marimo 0.25.2 (PyPI)",
            state="edit --token-password",
        ),
        ServiceSpec(
            name="marimo-run",
            product="marimo",
            packages=("marimo==0.25.2",),
            expect_version="0.25.2",
            expect_auth="open-read",
            expect_variant="run",
            start=_marimo("run", token=False),
            ready_path="/health",
            software="marimo 0.25.2 (PyPI)",
            state="run (no token by default)",
        ),
        ServiceSpec(
            name="marimo-run-token",
            product="marimo",
            packages=("marimo==0.25.2",),
            expect_version=None,
            hidden_version="0.25.2",
            expect_auth="auth-required",
            start=_marimo("run", token=True),
            ready_path="/health",
            token=MARIMO_PASSWORD,
            software="marimo 0.25.2 (PyPI)",
            state="run --token --token-password",
        ),
        # Phoenix: auth off (default) `open-read` (projects, traces, users); PHOENIX_ENABLE_AUTH `auth-required`.
        ServiceSpec(
            name="arize-phoenix",
            product="arize-phoenix",
            packages=("arize-phoenix==20.26.1",),
            expect_version="20.26.1",
            expect_auth="open-read",
            start=_phoenix(auth=False),
            ready_path="/healthz",
            ready_timeout=300,
            needs_netns=True,
            seed=_phoenix_seed,
            software="arize-phoenix 20.26.1 (PyPI)",
            state="auth off (default); one trace",
        ),
        ServiceSpec(
            name="arize-phoenix-auth",
            product="arize-phoenix",
            packages=("arize-phoenix==20.26.1",),
            expect_version="20.26.1",
            expect_auth="auth-required",
            start=_phoenix(auth=True),
            ready_path="/healthz",
            ready_timeout=300,
            needs_netns=True,
            software="arize-phoenix 20.26.1 (PyPI)",
            state="PHOENIX_ENABLE_AUTH=True, fresh",
        ),
        # Aim UI has no auth; its version is only inside the UI bundle.
        ServiceSpec(
            name="aim",
            product="aim",
            packages=("aim==3.29.1",),
            expect_version=None,
            hidden_version="3.29.1",
            expect_auth="open-read",
            start=_aim,
            ready_path="/api/projects/",
            ready_timeout=180,
            software="aim 3.29.1 (PyPI)",
            state="no auth (none exists); 2 runs",
        ),
        # Dask's dashboard has no auth and no version. Workers bind all interfaces unless told otherwise: netns only.
        ServiceSpec(
            name="dask",
            product="dask",
            packages=("distributed==2026.8.0", "bokeh==3.9.2"),
            expect_version=None,
            hidden_version="2026.8.0",
            expect_auth="open-read",
            start=_dask,
            ready_path="/health",
            needs_netns=True,
            seed=_dask_seed,
            software="distributed 2026.8.0 + bokeh 3.9.2 (PyPI)",
            state="no auth (none exists); 1 worker, 3 futures",
        ),
    ]
    return specs


SPECS: dict[str, ServiceSpec] = _specs()


# --------------------------------------------------------------------------------------------------------------------
# Venvs


def cache_dir_default() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)


def venv_key(packages: tuple[str, ...], python: str | None = None, pre_packages: tuple[str, ...] = ()) -> str:
    ident: dict[str, object] = {
        "python": python or f"{sys.version_info.major}.{sys.version_info.minor}",
        "packages": sorted(packages),
    }
    if pre_packages:
        ident["pre_packages"] = list(pre_packages)
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def venv_path(spec: ServiceSpec, cache_dir: Path | None = None) -> Path:
    return (cache_dir or cache_dir_default()) / venv_key(spec.packages, spec.python, spec.pre_packages)


def find_python(version: str | None) -> str | None:
    """An interpreter for `version` ("3.10"): the running one, a pyenv build, or pythonX.Y on PATH (None if absent)."""
    if version is None or version == f"{sys.version_info.major}.{sys.version_info.minor}":
        return sys.executable
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    for cand in sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"), reverse=True):
        if os.access(cand, os.X_OK):
            return str(cand)
    found = shutil.which(f"python{version}")
    if found and "/shims/" not in found:  # a pyenv shim fails unless that version is selected
        return found
    return None


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
    if spec.unavailable:
        raise ServiceError(f"{spec.name} cannot run here: {spec.unavailable}")
    python = find_python(spec.python)
    if python is None:
        raise ServiceError(f"{spec.name} needs Python {spec.python}, which is not installed here")
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
            pip = [str(venv / "bin/python"), "-m", "pip", "install", "--no-input"]
            steps = [[python, "-m", "venv", str(venv)]]
            if spec.pre_packages:
                steps.append([*pip, *spec.pre_packages])
            steps.append([*pip, *spec.pre_packages, *spec.packages])
            for argv in steps:
                out.write("$ " + " ".join(argv) + "\n")
                out.flush()
                rc = subprocess.call(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                if rc != 0:
                    raise ServiceError(f"building venv for {spec.name} failed ({rc}):\n{_tail(log)}")
        freeze = subprocess.run(
            [str(venv / "bin/python"), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True
        ).stdout.split()
        version = subprocess.run(
            [str(venv / "bin/python"), "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        marker = {
            "packages": list(spec.packages),
            "pre_packages": list(spec.pre_packages),
            "python": version,
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


def http_post(port: int, path: str, body: object, timeout: float = 30.0) -> tuple[int, bytes]:
    """POST JSON to http://127.0.0.1:PORT/PATH (only ever loopback; used by seeds, never by the scanner)."""
    if not path.startswith("/"):
        raise ValueError(f"path must start with /: {path!r}")
    req = urllib.request.Request(
        f"http://{LOOPBACK}:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()


def loopback_only_netns() -> bool:
    """True inside a network namespace whose only interface is loopback (`unshare -n`)."""
    try:
        return [name for _, name in socket.if_nameindex()] == ["lo"]
    except OSError:
        return False


def wildcard_listeners() -> list[str]:
    """Listening TCP sockets of this network namespace that are not bound to loopback ("0.0.0.0:4317", "[::]:...")."""
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 4 or cols[3] != "0A":  # 0A = LISTEN
                continue
            addr_hex, port_hex = cols[1].split(":")
            port = int(port_hex, 16)
            if width == 8:
                addr = socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr_hex)[::-1])
            else:
                raw = b"".join(bytes.fromhex(addr_hex[i : i + 8])[::-1] for i in range(0, 32, 8))
                addr = socket.inet_ntop(socket.AF_INET6, raw)
            if addr.startswith(("127.", "::ffff:127.")) or addr == "::1":
                continue
            found.append(f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}")
    return sorted(set(found))


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
    timeout: float | None = None,
    seed: bool = True,
    port: int | None = None,
) -> Iterator[RunningService]:
    """Start a spec on a free 127.0.0.1 port, wait until it answers, run its seed, yield it, and stop it on exit.

    Without `workdir` a temporary directory is used and removed afterwards; without `port`, a free port. A spec
    with `needs_netns` is refused outside a network namespace that holds nothing but loopback.
    """
    spec = SPECS[spec_name]
    if spec.needs_netns and not loopback_only_netns():
        raise ServiceError(f"{spec.name} binds ports on all interfaces: start it only inside `unshare -n`")
    venv = ensure_venv(spec, cache_dir)
    own_workdir = workdir is None
    wd = Path(tempfile.mkdtemp(prefix=f"aisweep-{spec.name}-")) if workdir is None else Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
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
        _wait_ready(spec, proc, port, log_path, spec.ready_timeout if timeout is None else timeout)
        svc = RunningService(
            spec=spec,
            base_url=f"http://{LOOPBACK}:{port}",
            port=port,
            log_path=log_path,
            workdir=wd,
            venv=venv,
            process=proc,
            env=dict(launch.env),
        )
        if seed and spec.seed is not None:
            spec.seed(svc)
            if not svc.alive():
                raise ServiceError(f"{spec.name} exited while being seeded; log tail:\n{_tail(log_path)}")
        yield svc
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
            ok = spec.ready_status if isinstance(spec.ready_status, tuple) else (spec.ready_status,)
            if status in ok:
                return
            last = f"HTTP {status}"
        time.sleep(0.5)
    raise ServiceError(
        f"{spec.name} not ready after {timeout:.0f} s on {spec.ready_path} ({last}); log tail:\n{_tail(log_path)}"
    )


def run_in_venv(svc: RunningService, code: str, timeout: float = 120.0, args: tuple[str, ...] = ()) -> str:
    """Run Python code with the service's venv (e.g. a client seeding data); the service URL is in AISWEEP_BASE_URL."""
    extra = {**svc.env, "AISWEEP_BASE_URL": svc.base_url, "AISWEEP_PORT": str(svc.port)}
    extra["MLFLOW_TRACKING_URI"] = svc.base_url
    env = service_env(svc.venv, svc.workdir, extra)
    out = subprocess.run(
        [str(svc.venv / "bin/python"), "-c", code, *args],
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


def _in_range(wanted: str | None, reported: object) -> bool:
    """True when `reported` ("4.10.0" or an inferred range "4.8.0–4.12.0") contains `wanted`."""
    if wanted is None or not isinstance(reported, str):
        return False
    from packaging.version import InvalidVersion, Version

    low, _, high = reported.partition("–")
    try:
        return Version(low) <= Version(wanted) <= Version(high or low)
    except InvalidVersion:
        return reported == wanted


def check_record(spec: ServiceSpec, record: Mapping[str, object] | None) -> list[str]:
    """What differs between a scan record (JSONL) of a spec's service and the spec's expectation (empty: all agree)."""
    if record is None:
        return ["no service identified"]
    problems = []
    if record.get("product") != spec.product:
        problems.append(f"product {record.get('product')!r}, expected {spec.product!r}")
    version = record.get("version")
    confidence = record.get("version_confidence")
    if spec.expect_version is None:
        # The product hides it: the scan may still infer it (static asset hashes), but only right and marked so.
        inferred_ok = confidence == "inferred" and _in_range(spec.hidden_version, version)
        if version is not None and not inferred_ok:
            problems.append(f"version {version!r} ({confidence}) reported, expected none or {spec.hidden_version!r}"
                            " inferred")  # fmt: skip
    elif version != spec.expect_version:
        problems.append(f"version {version!r}, expected {spec.expect_version!r}")
    elif confidence != "exact":
        problems.append(f"version confidence {confidence!r}, expected 'exact'")
    auth = record.get("auth")
    tier = auth.get("tier") if isinstance(auth, dict) else None
    if tier != spec.expect_auth:
        problems.append(f"auth tier {tier!r}, expected {spec.expect_auth!r}")
    if spec.expect_variant is not None and record.get("variant") != spec.expect_variant:
        problems.append(f"variant {record.get('variant')!r}, expected {spec.expect_variant!r}")
    return problems


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
        netns = "netns" if spec.needs_netns else "-"
        print(f"{spec.name:28} {spec.product:13} {spec.expect_version or '(hidden)':8} {spec.expect_auth:19} "
              f"{state:6} {netns:5} {' '.join(spec.pre_packages + spec.packages)}")  # fmt: skip


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
