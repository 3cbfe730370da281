"""Make look-alike (negative) samples from other products' recorded samples, served on the rule's own port.

A look-alike proves a rule does not fire on a real product that resembles it (same port, similar endpoints or
framework). The bytes are the other product's, unchanged; only `port` and `expect` are set. Run once; the files are
committed and replayed by `aisweep rules test`.

    python scripts/make_lookalikes.py
"""

from __future__ import annotations

from pathlib import Path

import yaml

SAMPLES = Path(__file__).resolve().parents[1] / "src/aisweep/rules/samples"

# rule that must NOT fire -> (source sample, why it resembles the rule's product)
PAIRS: dict[str, tuple[str, str]] = {
    "gradio": ("automatic1111/automatic1111-1.10.1-api-open.yaml", "AUTOMATIC1111 is a Gradio app itself"),
    "openai-compatible": ("vllm/vllm-0.11.0-open.yaml", "vLLM answers the OpenAI /v1/models API"),
    "vllm": ("llamacpp/llamacpp-b8929-open.yaml", "llama.cpp's server answers /v1/models and /health too"),
    "llamacpp": ("localai/localai-4.9.0-ollama-lookalike.yaml", "LocalAI is also an OpenAI-compatible server on 8080"),
    "localai": ("ollama/ollama-0.5.7-open.yaml", "LocalAI imitates Ollama's API; a real Ollama must stay Ollama"),
    "koboldcpp": ("llamacpp/llamacpp-b4747-open.yaml", "KoboldCpp is built on llama.cpp"),
    "comfyui": ("ray/ray-2.60.0-open.yaml", "Ray's dashboard is another aiohttp server"),
    "ray": ("comfyui/comfyui-0.3.64-open.yaml", "ComfyUI is another aiohttp server with a job queue"),
    "litellm": ("openai-compatible/generic-fastapi.yaml", "a generic FastAPI OpenAI-compatible gateway"),
    "open-webui": ("librechat/librechat-main-open-registration.yaml", "LibreChat also serves a public /api/config"),
    "mlflow": ("text-generation-webui/tgwui-4.7.3-api-open.yaml", "text-generation-webui's API also uses port 5000"),
    "jupyter": ("streamlit/streamlit-1.37.1-open.yaml", "Streamlit (before 1.38) is also a Tornado server"),
    "chromadb": ("vllm/vllm-0.11.0-open.yaml", "vLLM is also a FastAPI/uvicorn server on 8000"),
}


def main() -> None:
    rules_dir = SAMPLES.parent / "products"
    for rule_id, (source, why) in PAIRS.items():
        rule = yaml.safe_load((rules_dir / f"{rule_id}.yaml").read_text())
        port = rule["ports"][0] if rule["ports"] != "any" else 8000
        data = yaml.safe_load((SAMPLES / source).read_text())
        real = data.get("expect", {})
        product = real.get("product")
        name = f"lookalike-{Path(source).stem}-on-{port}"
        data["case"] = name
        data["port"] = port
        data["expect"] = {"not_product": rule_id, **({k: real[k] for k in ("product", "version", "auth") if k in real})}
        data["source"] = dict(data.get("source") or {})
        data["source"]["lookalike"] = f"{source} served on port {port}: {why}"
        if product is None:
            data["expect"].pop("product", None)
        out = SAMPLES / rule_id / f"{name}.yaml"
        out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120))
        print(out.relative_to(SAMPLES))


if __name__ == "__main__":
    main()
