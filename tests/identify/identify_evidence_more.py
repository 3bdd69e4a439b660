"""Identification cases of the fifteen providers of issue 19, each written from its documented or recorded
answers (the sources are in testkey_nb/providers/<id>/provider.toml and tests/providers/<id>/answers.yaml).
Loopback base URL: the hostname cannot help; only headers and bodies speak."""

from __future__ import annotations

from identify_evidence_fixtures import ev

from testkey_nb.identify.score import HttpEvidence

JSON = {"content-type": "application/json"}


def gemini_case() -> list[HttpEvidence]:
    h = {**JSON, "server": "scaffolding on HTTPServer2", "server-timing": "gfet4t7; dur=118"}
    models = {"object": "list", "data": [
        {"id": "models/gemini-2.5-flash", "object": "model", "owned_by": "google"},
        {"id": "models/gemini-2.5-pro", "object": "model", "owned_by": "google"},
    ]}  # fmt: skip
    err = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                     "status": "INVALID_ARGUMENT",
                     "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                                  "domain": "googleapis.com"}]}}  # fmt: skip
    return [ev("catalog", "/v1beta/openai/models", 200, h, models),
            ev("auth_check", "/v1beta/openai/chat/completions", 400, h, err)]  # fmt: skip


def xai_case() -> list[HttpEvidence]:
    models = {"object": "list", "data": [{"id": "grok-4", "created": 1752019200, "object": "model", "owned_by": "xai"},
                                         {"id": "grok-3-mini", "created": 1743724800, "object": "model",
                                          "owned_by": "xai"}]}  # fmt: skip
    err = {"code": "Client specified an invalid argument", "error": "Messages cannot be empty"}
    return [ev("catalog", "/v1/models", 200, JSON, models), ev("auth_check", "/v1/chat/completions", 400, JSON, err)]


def cohere_case() -> list[HttpEvidence]:
    h = {**JSON, "server": "envoy", "via": "1.1 google", "x-debug-trace-id": "1b2c3d4e5f60718293a4b5c6d7e8f901"}
    models = {"models": [{"name": "command-a-03-2025", "endpoints": ["chat"], "finetuned": False,
                          "context_length": 256000, "tokenizer_url": "https://storage.googleapis.com/x.json",
                          "features": ["tools"], "default_endpoints": []}]}  # fmt: skip
    err = {"id": "7f1c2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b", "message": "invalid api token"}
    return [ev("catalog", "/v1/models", 200, h, models), ev("auth_check", "/v1/chat/completions", 401, h, err)]


def perplexity_case() -> list[HttpEvidence]:
    err = {"error": {"message": "Invalid model 'testkey-nb-probe'. Permitted models can be found in the documentation"
                                " at https://docs.perplexity.ai/guides/model-cards.",
                     "type": "invalid_model", "code": 400}}  # fmt: skip
    return [ev("catalog", "/models", 404, {"server": "cloudflare"}, None, "<html>404 Not Found</html>"),
            ev("auth_check", "/chat/completions", 400, JSON, err)]  # fmt: skip


def azure_case() -> list[HttpEvidence]:
    h = {**JSON, "apim-request-id": "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9", "x-ms-region": "East US 2"}
    models = {"object": "list", "data": [{"id": "gpt-4o-2024-11-20", "object": "model", "created_at": 1732060800,
                                          "status": "succeeded", "lifecycle_status": "generally-available",
                                          "capabilities": {"fine_tune": False, "inference": True, "completion": False,
                                                           "chat_completion": True, "embeddings": False},
                                          "deprecation": {"inference": 1780000000}}]}  # fmt: skip
    err = {"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. "
                     "Make sure to provide a valid key for an active subscription and use a correct regional API "
                     "endpoint for your resource."}}  # fmt: skip
    return [ev("catalog", "/openai/v1/models", 200, h, models),
            ev("auth_check", "/openai/v1/chat/completions", 401, h, err)]  # fmt: skip


def dashscope_case() -> list[HttpEvidence]:
    h = {**JSON, "server": "istio-envoy", "x-dashscope-call-gateway": "true", "req-arrive-time": "1764655200000",
         "req-cost-time": "12", "resp-start-time": "1764655200012"}  # fmt: skip
    err = {"error": {"message": "Incorrect API key provided. For details, see: "
                                "https://www.alibabacloud.com/help/en/model-studio/error-code#apikey-error",
                     "type": "invalid_request_error", "param": None, "code": "invalid_api_key"},
           "request_id": "5b2c7f1e-3a4d-4c8b-9e0f-1a2b3c4d5e6f"}  # fmt: skip
    # the catalog (recorded: owned_by "system") is left out: "system" is one of OpenAI's owners too, a rival with
    # real evidence; the headers and the 401 body speak for DashScope alone
    return [ev("auth_check", "/compatible-mode/v1/chat/completions", 401, h, err)]


def moonshot_case() -> list[HttpEvidence]:
    models = {"object": "list", "data": [{"id": "kimi-k2-0905-preview", "object": "model", "created": 1757030400,
                                          "owned_by": "moonshot"},
                                         {"id": "moonshot-v1-8k", "object": "model", "created": 1711000000,
                                          "owned_by": "moonshot"}]}  # fmt: skip
    err = {"error": {"message": "Invalid Authentication", "type": "invalid_authentication_error"}}
    return [ev("catalog", "/v1/models", 200, JSON, models), ev("auth_check", "/v1/chat/completions", 401, JSON, err)]


def zhipu_case() -> list[HttpEvidence]:
    models = {"object": "list", "data": [{"id": "glm-4.6", "object": "model", "created": 1759190400,
                                          "owned_by": "z-ai"}]}  # fmt: skip
    err = {"error": {"code": "1000", "message": "身份验证失败。"}}
    return [ev("catalog", "/api/paas/v4/models", 200, JSON, models),
            ev("auth_check", "/api/paas/v4/chat/completions", 401, JSON, err)]  # fmt: skip


def siliconflow_case() -> list[HttpEvidence]:
    err = {"code": 20012, "message": "Model does not exist. Please check it carefully.", "data": None}
    return [ev("auth_check", "/v1/chat/completions", 400, JSON, err)]


def minimax_case() -> list[HttpEvidence]:
    h = {**JSON, "trace-id": "05a1b2c3d4e5f60718293a4b5c6d7e8f"}
    bad = {"id": "", "choices": None, "created": 0, "model": "", "object": "", "usage": None,
           "base_resp": {"status_code": 1004, "status_msg": "login fail: Please carry the API secret key in the "
                                                            "'Authorization' field of the request header"}}  # fmt: skip
    return [ev("auth_check", "/v1/chat/completions", 200, h, bad)]


def novita_case() -> list[HttpEvidence]:
    models = {"data": [{"created": 1733000000, "id": "deepseek/deepseek-v3.1", "object": "model",
                        "input_token_price_per_m": 2700, "output_token_price_per_m": 11000,
                        "title": "DeepSeek V3.1", "description": "", "context_size": 131072}]}  # fmt: skip
    return [ev("catalog", "/openai/v1/models", 200, JSON, models)]


def hyperbolic_case() -> list[HttpEvidence]:
    models = {"object": "list", "data": [{"id": "meta-llama/Llama-3.3-70B-Instruct", "object": "model",
                                          "created": 1733000000, "owned_by": "Hyperbolic"}]}  # fmt: skip
    return [ev("catalog", "/v1/models", 200, JSON, models)]


def nebius_case() -> list[HttpEvidence]:
    models = {"object": "list", "data": [{"id": "meta-llama/Llama-3.3-70B-Instruct", "object": "model",
                                          "created": 1733000000, "owned_by": "system"}]}  # fmt: skip
    return [ev("catalog", "/v1/models", 200, {**JSON, "x-ratelimit-remaining-requests": "599"}, models)]


def sambanova_case() -> list[HttpEvidence]:
    h = {**JSON, "x-ratelimit-limit-requests": "20", "x-ratelimit-remaining-requests": "19",
         "x-ratelimit-limit-requests-day": "20", "x-ratelimit-remaining-requests-day": "19"}  # fmt: skip
    models = {"object": "list", "data": [{"id": "Meta-Llama-3.3-70B-Instruct", "object": "model",
                                          "owned_by": "SambaNova"}]}  # fmt: skip
    return [ev("catalog", "/v1/models", 200, JSON, models), ev("auth_check", "/v1/chat/completions", 400, h, None)]


def ark_case() -> list[HttpEvidence]:
    err = {"error": {"code": "AuthenticationError",
                     "message": "The API key or AK/SK in the request is missing or invalid. Request ID: "
                                "021764655200000abcdef0123456789abcdef0123456789abcdef",
                     "param": "", "type": "Unauthorized"}}  # fmt: skip
    return [ev("auth_check", "/api/v3/chat/completions", 401, JSON, err)]


MORE_CASES = {
    "gemini": gemini_case, "xai": xai_case, "cohere": cohere_case, "perplexity": perplexity_case,
    "azure": azure_case, "dashscope": dashscope_case, "moonshot": moonshot_case, "zhipu": zhipu_case,
    "siliconflow": siliconflow_case, "minimax": minimax_case, "novita": novita_case, "hyperbolic": hyperbolic_case,
    "nebius": nebius_case, "sambanova": sambanova_case, "ark": ark_case,
}  # fmt: skip

#: documented answers that carry no evidence only this provider emits: from behaviour alone (loopback, no key
#: shape) the provider cannot be named; its hostname or a claim names it
BEHAVIOUR_SILENT = {
    "nebius": "Nebius' documented answers are OpenAI-shaped with nothing of its own; identified by its hostname",
    "hyperbolic": "Hyperbolic's only body mark (owned_by Hyperbolic) is one weakly sourced source; capped below 0.5",
    "sambanova": "SambaNova's model ids and -requests-day header are shared or weak; identified by its hostname",
    "siliconflow": "SiliconFlow's {code, message, data} envelope is one weakly sourced source (0.49 < 0.5)",
}
