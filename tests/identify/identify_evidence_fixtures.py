"""Evidence fixtures for the identification tests (no test functions here).

Baseten evidence comes from the real go-vcr recordings (vendored under
`tests/providers/baseten/recordings/`, copied from the shared reference/recordings/baseten). Every
other provider's evidence is written from the table in
reference/baseten-api-facts.md §5 (headers, /models shapes, 401 bodies of real recordings).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from testkey_nb.identify.evidence import HttpEvidence

HERE = Path(__file__).resolve().parent
RECORDINGS = HERE.parent / "providers" / "baseten" / "recordings"
LOOPBACK = "http://127.0.0.1:8931/v1"


def _probe_for(method: str, path: str, status: int) -> str:
    if path.rstrip("/").endswith("/models"):
        return "catalog"
    if method == "POST" and status >= 400:
        return "auth_check"
    return "completion"


def exchanges_from_recording(path: Path) -> list[HttpEvidence]:
    """Turn a go-vcr recording into HttpEvidence, one per interaction, as the probe engine would."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: list[HttpEvidence] = []
    for inter in doc["interactions"]:
        req, resp = inter["request"], inter["response"]
        status = int(resp["code"])
        headers = {str(k).lower(): ", ".join(str(v) for v in vals) for k, vals in resp["headers"].items()}
        body: str = resp.get("body") or ""
        json_body: Any = None
        snippet: str | None = None
        try:
            json_body = json.loads(body)
        except ValueError:
            snippet = body[:2048] or None
        url_path = urlsplit(req["url"]).path
        out.append(
            HttpEvidence(
                probe=_probe_for(req["method"], url_path, status),
                url_path=url_path,
                status=status,
                headers=headers,
                json_body=json_body,
                text_snippet=snippet,
            )
        )
    return out


def baseten_exchanges() -> list[HttpEvidence]:
    names = ["Warmup.yaml", "errors_bad_apiKey_GenSync.yaml", "chat_gpt-oss-120b_GenSync-Text.yaml"]
    return [ex for n in names for ex in exchanges_from_recording(RECORDINGS / n)]


def baseten_catalog_body() -> dict[str, Any]:
    (catalog,) = exchanges_from_recording(RECORDINGS / "Warmup.yaml")
    assert isinstance(catalog.json_body, dict)
    return catalog.json_body


def baseten_403() -> HttpEvidence:
    (ex,) = exchanges_from_recording(RECORDINGS / "errors_bad_apiKey_GenSync.yaml")
    return ex


def ev(
    probe: str,
    path: str,
    status: int | None,
    headers: dict[str, str] | None = None,
    body: Any = None,
    text: str | None = None,
) -> HttpEvidence:
    return HttpEvidence(
        probe=probe, url_path=path, status=status, headers=headers or {}, json_body=body, text_snippet=text
    )


# --------------------------------------------------------------------------------------------------
# one case per provider, from the facts-file table (§5); hostnames cannot help (loopback base URL)

CF = {"server": "cloudflare", "cf-ray": "8f1c2a3b4c5d6e7f-SJC"}


def openai_case() -> list[HttpEvidence]:
    h = {
        **CF,
        "openai-version": "2020-10-01",
        "openai-processing-ms": "212",
        "x-openai-proxy-wasm": "v0.1",
        "access-control-expose-headers": "X-Request-ID, CF-Ray",
        "x-ratelimit-limit-requests": "10000",
        "x-ratelimit-remaining-requests": "9999",
        "x-ratelimit-reset-requests": "6ms",
        "x-ratelimit-limit-tokens": "30000000",
        "x-ratelimit-reset-tokens": "23m20.415s",
        "content-type": "application/json",
    }
    models = {
        "object": "list",
        "data": [
            {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
            {"id": "o3", "object": "model", "created": 1744225308, "owned_by": "openai"},
            {"id": "gpt-4.1-nano", "object": "model", "created": 1744321707, "owned_by": "system"},
        ],
    }
    err = {
        "error": {
            "message": "Incorrect API key provided: sk-proj-********. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    h401 = {**h, "www-authenticate": 'Bearer realm="OpenAI API"'}
    return [
        ev("catalog", "/v1/models", 200, h, models),
        ev("auth_check", "/v1/chat/completions", 401, h401, err),
    ]


def anthropic_case() -> list[HttpEvidence]:
    h = {
        **CF,
        "anthropic-ratelimit-requests-limit": "4000",
        "anthropic-ratelimit-requests-remaining": "3999",
        "anthropic-ratelimit-requests-reset": "2026-08-01T12:00:01Z",
        "anthropic-ratelimit-tokens-limit": "2000000",
        "anthropic-workspace-id": "wrkspc_01AbCdEf",
        "request-id": "req_011CAbCdEfGh",
        "x-should-retry": "false",
        "server-timing": "x-originResponse;dur=41",
        "x-robots-tag": "none",
        "traceresponse": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "content-type": "application/json",
    }
    models = {
        "data": [
            {
                "type": "model",
                "id": "claude-opus-4-1-20250805",
                "display_name": "Claude Opus 4.1",
                "created_at": "2025-08-05T00:00:00Z",
            },
            {
                "type": "model",
                "id": "claude-sonnet-4-20250514",
                "display_name": "Claude Sonnet 4",
                "created_at": "2025-05-22T00:00:00Z",
            },
        ],
        "has_more": False,
        "first_id": "claude-opus-4-1-20250805",
        "last_id": "claude-sonnet-4-20250514",
    }
    err = {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        "request_id": "req_011CAbCdEfGhIj",
    }
    return [
        ev("catalog", "/v1/models", 200, h, models),
        ev("auth_check", "/v1/messages", 401, {k: v for k, v in h.items() if "ratelimit" not in k}, err),
    ]


def groq_case() -> list[HttpEvidence]:
    h = {
        "server": "cloudflare",
        "cf-ray": "8f1c2a3b4c5d6e7f-DFW",
        "via": "1.1 google",
        "x-groq-region": "us-east-1",
        "x-request-id": "req_01k2x9v3q4w5e6r7t8y9u0i1o2",
        "x-ratelimit-limit-requests": "1000",
        "x-ratelimit-limit-tokens": "250000",
        "x-ratelimit-reset-requests": "86.4ms",
        "content-type": "application/json",
    }
    models = {
        "object": "list",
        "data": [
            {
                "id": "llama-3.3-70b-versatile",
                "object": "model",
                "created": 1733447754,
                "owned_by": "Meta",
                "active": True,
                "context_window": 131072,
                "public_apps": None,
                "max_completion_tokens": 32768,
            },
            {
                "id": "openai/gpt-oss-120b",
                "object": "model",
                "created": 1754408224,
                "owned_by": "OpenAI",
                "active": True,
                "context_window": 131072,
                "public_apps": None,
                "max_completion_tokens": 65536,
            },
        ],
    }
    err = {
        "error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}
    }
    return [
        ev("catalog", "/openai/v1/models", 200, h, models),
        ev("auth_check", "/openai/v1/chat/completions", 401, h, err),
    ]


def together_case() -> list[HttpEvidence]:
    h = {
        **CF,
        "x-api-received": "1754400000.123",
        "x-api-call-start": "2026-08-01T00:00:00.000Z",
        "x-api-call-end": "2026-08-01T00:00:00.300Z",
        "x-inference-version": "v2",
        "x-amzn-trace-id": "Root=1-66a0b0c0-0123456789abcdef01234567",
        "etag": 'W/"1a2b"',
        "content-type": "application/json",
    }
    models = [
        {
            "id": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "uuid": "a1b2",
            "object": "model",
            "created": 1733443000,
            "type": "chat",
            "running": False,
            "display_name": "Llama 3.3 70B Instruct Turbo",
            "organization": "Meta",
            "link": "https://huggingface.co/meta-llama",
            "license": "llama3.3",
            "context_length": 131072,
            "config": {},
            "pricing": {"hourly": 0, "input": 0.88, "output": 0.88, "base": 0, "finetune": 0},
        },
    ]
    err = {
        "id": "omJGQiH-2kFHot-8f1c2a3b4c5d6e7f",
        "error": {
            "message": "Invalid API key provided. You can find your API key at https://api.together.ai/settings/api-keys.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        },
    }
    return [
        ev("catalog", "/v1/models", 200, h, models),
        ev("auth_check", "/v1/chat/completions", 401, h, err),
    ]


def openrouter_case() -> list[HttpEvidence]:
    h = {
        **CF,
        "access-control-expose-headers": "X-Generation-Id,X-Provider-Name,request-id,cf-ray",
        "permissions-policy": 'payment=(self "https://checkout.stripe.com" "https://js.stripe.com")',
        "server-timing": "cfEdge;dur=12,cfWorker;dur=40",
        "content-type": "application/json",
    }
    models = {
        "data": [
            {
                "id": "qwen/qwen3-235b-a22b",
                "canonical_slug": "qwen/qwen3-235b-a22b-04-28",
                "hugging_face_id": "Qwen/Qwen3-235B-A22B",
                "name": "Qwen: Qwen3 235B A22B",
                "created": 1745875757,
                "description": "...",
                "context_length": 131072,
                "architecture": {
                    "modality": "text->text",
                    "input_modalities": ["text"],
                    "output_modalities": ["text"],
                    "tokenizer": "Qwen3",
                    "instruct_type": "qwen3",
                },
                "pricing": {"prompt": "0.00000013", "completion": "0.0000006"},
                "top_provider": {
                    "context_length": 131072,
                    "max_completion_tokens": 8192,
                    "is_moderated": False,
                },
            },
        ]
    }
    err = {"error": {"message": "Missing Authentication header", "code": 401}}
    bad_model = {
        "error": {"message": "bad/model is not a valid model ID", "code": 400},
        "user_id": "user_2abc",
    }
    return [
        ev("catalog", "/api/v1/models", 200, h, models),
        ev("auth_check", "/api/v1/chat/completions", 401, h, err),
        ev(
            "auth_check",
            "/api/v1/chat/completions",
            400,
            {**h, "x-generation-id": "gen-1754400000-AbCd"},
            bad_model,
        ),
    ]


def deepseek_case() -> list[HttpEvidence]:
    h = {
        "server": "elb",
        "via": "1.1 4f5e6d.cloudfront.net (CloudFront)",
        "x-amz-cf-id": "AbCdEf==",
        "x-amz-cf-pop": "SFO53-P1",
        "content-type": "application/json",
    }
    models = {
        "object": "list",
        "data": [
            {"id": "deepseek-v4-flash", "object": "model", "owned_by": "deepseek"},
            {"id": "deepseek-v4-pro", "object": "model", "owned_by": "deepseek"},
        ],
    }
    err = {
        "error": {
            "message": "Authentication Fails, Your api key: ****iKey is invalid",
            "type": "authentication_error",
            "param": None,
            "code": "invalid_request_error",
        }
    }
    return [ev("catalog", "/models", 200, h, models), ev("auth_check", "/chat/completions", 401, h, err)]


def cerebras_case() -> list[HttpEvidence]:
    h = {
        **CF,
        "server-timing": 'cfCacheStatus;desc="DYNAMIC"',
        "referrer-policy": "strict-origin-when-cross-origin",
        "content-type": "application/json",
    }
    models = {
        "object": "list",
        "data": [
            {"id": "llama3.1-8b", "object": "model", "created": 0, "owned_by": "Cerebras"},
            {"id": "qwen-3-235b-a22b-instruct-2507", "object": "model", "created": 0, "owned_by": "Cerebras"},
        ],
    }
    err = {
        "message": "Wrong API Key",
        "type": "invalid_request_error",
        "param": "api_key",
        "code": "wrong_api_key",
    }
    return [
        ev("catalog", "/v1/models", 200, h, models),
        ev("auth_check", "/v1/chat/completions", 401, h, err),
    ]


def mistral_case() -> list[HttpEvidence]:
    h = {
        "mistral-correlation-id": "0198a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "x-kong-request-id": "0198a1b2c3d4",
        "x-kong-proxy-latency": "2",
        "x-envoy-upstream-service-time": "35",
        "content-type": "application/json",
    }
    models = {
        "object": "list",
        "data": [
            {
                "id": "mistral-large-latest",
                "object": "model",
                "created": 1754400000,
                "owned_by": "mistralai",
                "capabilities": {"completion_chat": True, "function_calling": True, "vision": False},
                "max_context_length": 131072,
            },
        ],
    }
    return [
        ev("catalog", "/v1/models", 200, h, models),
        ev("auth_check", "/v1/chat/completions", 401, h, {"detail": "Unauthorized"}),
    ]


def huggingface_case() -> list[HttpEvidence]:
    h = {
        "x-powered-by": "huggingface-moon",
        "x-request-id": "AbCdEfGh12345678",
        "x-error-message": "Invalid credentials in Authorization header",
        "ratelimit": '"api";r=499;t=60',
        "ratelimit-policy": '"fixed window";"api";q=500;w=300',
        "via": "1.1 abc.cloudfront.net (CloudFront)",
        "content-type": "application/json",
    }
    return [
        ev(
            "auth_check",
            "/v1/chat/completions",
            401,
            h,
            {"error": "Invalid credentials in Authorization header"},
        )
    ]


def fireworks_case() -> list[HttpEvidence]:
    # Not recorded anywhere: model ids from the docs (accounts/fireworks/models/<name>), 401 body guessed.
    models = {
        "object": "list",
        "data": [
            {
                "id": "accounts/fireworks/models/llama-v3p1-8b-instruct",
                "object": "model",
                "owned_by": "fireworks",
                "created": 1721692800,
            },
            {
                "id": "accounts/fireworks/models/deepseek-v3",
                "object": "model",
                "owned_by": "fireworks",
                "created": 1735171200,
            },
        ],
    }
    err = {
        "error": {
            "object": "error",
            "type": "invalid_request_error",
            "message": "The API key you provided is invalid.",
        }
    }
    return [
        ev("catalog", "/inference/v1/models", 200, {"content-type": "application/json"}, models),
        ev("auth_check", "/inference/v1/chat/completions", 401, {"content-type": "application/json"}, err),
    ]


def deepinfra_case() -> list[HttpEvidence]:
    # Third-party issues only: legacy 403 {"detail":{"error":"Not authenticated"}}.
    return [
        ev(
            "auth_check",
            "/v1/openai/chat/completions",
            403,
            {"content-type": "application/json"},
            {"detail": {"error": "Not authenticated"}},
        )
    ]


PROVIDER_CASES = {
    "openai": openai_case,
    "anthropic": anthropic_case,
    "groq": groq_case,
    "together": together_case,
    "openrouter": openrouter_case,
    "deepseek": deepseek_case,
    "cerebras": cerebras_case,
    "mistral": mistral_case,
    "huggingface": huggingface_case,
    "fireworks": fireworks_case,
    "deepinfra": deepinfra_case,
}


# Synthetic keys, one per pattern we can test. Never real keys.
SAMPLE_KEYS = {
    "baseten:new": "b10_Ab3dEf9h." + "Q" * 16 + "r" * 16,
    "baseten:old": "Ab3dEf9h." + "x" * 32,
    "openai:project": "sk-proj-" + "A1b2C3d4" * 6,
    "openai:legacy": "sk-" + "a" * 20 + "T3BlbkFJ" + "b" * 20,
    "anthropic:api": "sk-ant-api03-" + "x" * 93 + "AA",
    "groq:gsk": "gsk_" + "a1B2" * 13,
    "openrouter:v1": "sk-or-v1-" + "0123456789abcdef" * 4,
    "huggingface:hf": "hf_" + "abcdefghijklmnopqrstuvwxyzABCDEFGH",
    "deepseek:sk-hex32": "sk-" + "0123456789abcdef" * 2,
    "fireworks:fw": "fw_" + "3ZabcdefGHIJKLmnop12",
    "cerebras:csk": "csk-" + "abcd1234" * 6,
    "together:tgp": "tgp_v1_" + "Ab3dEf9hIj" * 4 + "xyz",
    "together:hex64": "0123456789abcdef" * 4,
    "mistral:alnum32": "AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    "openai:admin": "sk-admin-" + "Ab3_dEf9-h" * 12 + "Ab3d",
    "gemini:aiza": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "xai:xai": "xai-" + "Ab3dEf9hIj" * 8,
    "perplexity:pplx": "pplx-" + "Ab3dEf9hIjKl" * 4,
    "zhipu:hex32-dot-16": "0123456789abcdef" * 2 + "." + "Ab3dEf9hIjKlMn0p",
    "minimax:sk-api": "sk-api-" + "Ab3dEf9hIj" * 4,
    "minimax:sk-cp": "sk-cp-" + "Ab3dEf9hIj" * 4,
    "novita:sk-underscore": "sk_" + "Ab3dEf9hIj" * 4,
    "siliconflow:sk-lower48": "sk-" + "abcdefghijkl" * 4,
}


# the fifteen providers of issue 19 (their cases live in their own module; imported last: it uses ev)
from identify_evidence_more import MORE_CASES  # noqa: E402

PROVIDER_CASES.update(MORE_CASES)
