"""Workspaces, users, dedicated deployments and keys of the emulator, as immutable data.

Everything here is a frozen dataclass, a tuple or a read-only mapping: the only mutable state of a
running emulator lives in its `EmulatorState`. Keys themselves are not data: they are generated at
start (random, or reproducible from ``EmulatorConfig.seed``) by `generate_keys`.

Sources for the shapes: the management OpenAPI spec (UserInfoV1, APIKeyInfoV1, ModelV1, DeploymentV1,
AutoscalingSettingsV1, InstanceTypeV1) and the facts file (tiers, key formats, per-minute prices).
"""

from __future__ import annotations

import random
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

KEY_TYPES: tuple[str, ...] = ("PERSONAL", "WORKSPACE_MANAGE_ALL", "WORKSPACE_EXPORT_METRICS", "WORKSPACE_INVOKE")

# Emulator assumption: the real catalog has no meta-llama model; the inference-scoped scenario is
# scoped to this id and the emulator serves it (only to keys scoped to it) in the catalog item shape.
SCOPED_LLAMA_ID = "meta-llama/Meta-Llama-3.1-8B-Instruct"


@dataclass(frozen=True)
class Tier:
    """Model APIs rate-limit tier (docs: rate-limits-and-budgets)."""

    name: str
    rpm: int
    tpm: int


BASIC_UNVERIFIED = Tier("Basic (unverified)", 15, 100_000)
BASIC_VERIFIED = Tier("Basic (verified)", 120, 500_000)
PRO = Tier("Pro", 120, 1_000_000)


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    name: str


@dataclass(frozen=True)
class InstanceType:
    """InstanceTypeV1 plus its per-minute price (facts section 4; third-party transcriptions)."""

    id: str
    name: str
    memory_limit_mib: int
    millicpu_limit: int
    gpu_count: int
    gpu_type: str | None
    gpu_memory_limit_mib: int | None
    price_per_minute: Decimal


INSTANCE_TYPES: tuple[InstanceType, ...] = (
    InstanceType("T4x4x16", "T4x4x16", 16_384, 4_000, 1, "T4", 16_384, Decimal("0.01052")),
    InstanceType("L4x4x16", "L4x4x16", 16_384, 4_000, 1, "L4", 24_576, Decimal("0.01414")),
    InstanceType("A10Gx4x16", "A10Gx4x16", 16_384, 4_000, 1, "A10G", 24_576, Decimal("0.02012")),
    InstanceType("A100x12x144", "A100x12x144", 147_456, 12_000, 1, "A100", 81_920, Decimal("0.06667")),
    InstanceType("H100MIGx7x80", "H100MIGx7x80", 81_920, 7_000, 1, "H100_40GB", 40_960, Decimal("0.0625")),
    InstanceType("H100", "H100", 239_616, 26_000, 1, "H100", 81_920, Decimal("0.10833")),
    InstanceType("B200", "B200", 262_144, 26_000, 1, "B200", 184_320, Decimal("0.16633")),
)
INSTANCE_TYPES_BY_NAME: Mapping[str, InstanceType] = MappingProxyType(
    {**{it.id: it for it in INSTANCE_TYPES}, **{it.name: it for it in INSTANCE_TYPES}}
)


@dataclass(frozen=True)
class Autoscaling:
    """AutoscalingSettingsV1; defaults are the documented current ones (facts section 4)."""

    min_replica: int = 0
    max_replica: int = 1
    autoscaling_window: int | None = 60
    scale_down_delay: int | None = 900
    concurrency_target: int = 1
    target_utilization_percentage: int | None = 70
    target_in_flight_tokens: int | None = None
    max_scale_down_rate: int | None = 50


@dataclass(frozen=True)
class Deployment:
    """A DeploymentV1 plus how it is metered.

    ``usage`` profiles: ``always_on`` (min_replica >= 1, billed all day plus bursts), ``bursty``
    (scale to zero, billed only while woken), ``build_only`` (builder minutes on the creation day, then
    nothing: a failed boot is never observed up), ``building`` (builder minutes since creation),
    ``none`` (not billed, e.g. a development deployment), ``until_credits`` (always on until the
    workspace's credits ran out, then deactivated).

    ``burst_share`` scales the minutes of replicas autoscaled above ``min_replica`` (up to
    ``(max_replica - min_replica) x burst_share`` of the day) and ``wake_share`` the awake minutes of a
    ``bursty`` deployment: replicas no deployment record shows (the reconciliation calls them
    unobserved, `testkey_nb.billing.reconcile`).
    """

    id: str
    name: str
    status: str
    instance_type: str
    is_production: bool = False
    is_development: bool = False
    environment: str | None = None
    autoscaling: Autoscaling | None = Autoscaling()
    active_replica_count: int = 0
    created_days_ago: int = 30
    usage: str = "none"
    requests_per_minute: float = 0.0
    burst_share: float = 0.12
    wake_share: float = 1.0


@dataclass(frozen=True)
class DedicatedModel:
    id: str
    name: str
    deployments: tuple[Deployment, ...]
    created_days_ago: int = 40


@dataclass(frozen=True)
class ModelApiUse:
    """Daily Model APIs traffic of a workspace on one catalog model (token volumes are deterministic)."""

    model: str
    daily_input_tokens: int


@dataclass(frozen=True)
class Workspace:
    name: str
    team_name: str
    tier: Tier
    users: tuple[User, ...]
    models: tuple[DedicatedModel, ...] = ()
    model_api_use: tuple[ModelApiUse, ...] = ()
    credits_granted: Decimal = Decimal("30")
    has_payment_method: bool = True
    # "ok", "no_credits" (chat -> 402) or "rate_limited" (chat -> 429 Retry-After: 2)
    chat_state: str = "ok"
    history_days: int = 45
    decoy_keys: tuple[tuple[str, str], ...] = ()  # (name, type) of keys listed but not in emu.keys

    def user(self, email: str | None) -> User | None:
        return next((u for u in self.users if u.email == email), None)


@dataclass(frozen=True)
class Scenario:
    """One demo key: its label (the key of ``emu.keys``), what it is, and how the emulator treats it."""

    label: str
    description: str
    key_type: str | None  # APIKeyCategory, or None for a key the emulator does not accept
    workspace: str | None
    user_email: str | None = None  # personal keys: owner; team keys: the user who created the key
    key_name: str | None = None
    model_ids: tuple[str, ...] | None = None
    key_format: str = "b10"  # "b10" (b10_ + 8 . 32) or "legacy" (8 . 32)
    status: str = "active"  # "active", "revoked", "unknown"

    @property
    def accepted(self) -> bool:
        return self.status == "active" and self.key_type is not None

    @property
    def can_infer(self) -> bool:
        return self.accepted and self.key_type != "WORKSPACE_EXPORT_METRICS"


_ADA = User("ad4Lq9z", "ada@example.com", "Ada Lovelace")
_GRACE = User("gr7Hp2m", "grace@example.com", "Grace Hopper")

_DEFAULT_AS = Autoscaling()

WORKSPACES: Mapping[str, Workspace] = MappingProxyType(
    {
        "acme-ml": Workspace(
            name="acme-ml",
            team_name="Default Team",
            tier=BASIC_VERIFIED,
            users=(_ADA, _GRACE),
            models=(
                DedicatedModel(
                    "7wl3kx0q",
                    "support-llm",
                    (
                        Deployment(
                            "w3n8k2p", "deployment-2", "ACTIVE", "A10Gx4x16", is_production=True,
                            environment="production", autoscaling=Autoscaling(min_replica=1, max_replica=3),
                            active_replica_count=1, created_days_ago=38, usage="always_on",
                            requests_per_minute=4.0,
                        ),
                        Deployment(
                            "q8m2v5t", "deployment-1", "INACTIVE", "A10Gx4x16", autoscaling=_DEFAULT_AS,
                            created_days_ago=40, usage="none",
                        ),
                    ),
                ),
                DedicatedModel(
                    "31xyz8mq",
                    "whisper-v3",
                    (
                        Deployment(
                            "p5r7c1d", "deployment-1", "SCALED_TO_ZERO", "T4x4x16", is_production=True,
                            environment="production", autoscaling=Autoscaling(min_replica=0, max_replica=2),
                            created_days_ago=25, usage="bursty", requests_per_minute=6.0,
                        ),
                    ),
                    created_days_ago=25,
                ),
            ),
            model_api_use=(ModelApiUse("openai/gpt-oss-120b", 1_800_000), ModelApiUse("zai-org/GLM-4.7", 400_000)),
            decoy_keys=(("ci-deploy", "WORKSPACE_MANAGE_ALL"),),
        ),
        "solo-dev": Workspace(
            name="solo-dev",
            team_name="Default Team",
            tier=BASIC_UNVERIFIED,
            users=(User("sm2Kd8x", "sam@example.com", "Sam Solo"),),
            model_api_use=(ModelApiUse("openai/gpt-oss-120b", 60_000),),
            history_days=20,
        ),
        "bigco-ai": Workspace(
            name="bigco-ai",
            team_name="Platform",
            tier=PRO,
            users=(User("bg9Qw3e", "pat@bigco.example", "Pat Ops"),),
            models=(
                DedicatedModel(
                    "zq81mv0c",
                    "embedder",
                    (
                        Deployment(
                            "h2k9x4b", "deployment-7", "ACTIVE", "H100", is_production=True,
                            environment="production", autoscaling=Autoscaling(min_replica=2, max_replica=8,
                            concurrency_target=32), active_replica_count=2, created_days_ago=60,
                            usage="always_on", requests_per_minute=90.0,
                        ),
                    ),
                    created_days_ago=90,
                ),
            ),
            model_api_use=(
                ModelApiUse("deepseek-ai/DeepSeek-V4-Pro", 25_000_000),
                ModelApiUse("moonshotai/Kimi-K2.6", 9_000_000),
            ),
            credits_granted=Decimal("0"),
        ),
        "lifecycle-lab": Workspace(
            name="lifecycle-lab",
            team_name="Default Team",
            tier=BASIC_VERIFIED,
            users=(User("lf3Tn6y", "lin@lifecycle.example", "Lin Cycle"),),
            models=(
                DedicatedModel(
                    "abcd1234",
                    "prod-llm",
                    (
                        Deployment(
                            "qvmz15j", "deployment-3", "ACTIVE", "A100x12x144", is_production=True,
                            environment="production", autoscaling=Autoscaling(min_replica=1, max_replica=4),
                            active_replica_count=1, created_days_ago=35, usage="always_on",
                            requests_per_minute=12.0, burst_share=0.001,
                        ),
                        Deployment(
                            "d3v8x2k", "development", "ACTIVE", "A10Gx4x16", is_development=True,
                            autoscaling=Autoscaling(min_replica=0, max_replica=1), active_replica_count=1,
                            created_days_ago=20, usage="none",
                        ),
                    ),
                ),
                DedicatedModel(
                    "wx4g5r5q",
                    "batch-ocr",
                    (
                        Deployment(
                            "s0z3r8o", "deployment-1", "SCALED_TO_ZERO", "L4x4x16", is_production=True,
                            environment="production", autoscaling=Autoscaling(min_replica=0, max_replica=2),
                            created_days_ago=33, usage="bursty", requests_per_minute=20.0, wake_share=0.02,
                        ),
                    ),
                    created_days_ago=33,
                ),
                DedicatedModel(
                    "n3wm0d3l",
                    "new-model",
                    (
                        Deployment(
                            "b1d9n7g", "deployment-1", "BUILDING", "H100", autoscaling=None,
                            created_days_ago=0, usage="building",
                        ),
                    ),
                    created_days_ago=0,
                ),
                DedicatedModel(
                    "f41l3dmd",
                    "broken-model",
                    (
                        Deployment(
                            "f4x1l2d", "deployment-1", "DEPLOY_FAILED", "A10Gx4x16",
                            autoscaling=_DEFAULT_AS, created_days_ago=12, usage="build_only",
                        ),
                    ),
                    created_days_ago=12,
                ),
            ),
            model_api_use=(ModelApiUse("zai-org/GLM-4.7", 900_000),),
            credits_granted=Decimal("100"),
            history_days=40,
        ),
        "broke-startup": Workspace(
            name="broke-startup",
            team_name="Default Team",
            tier=BASIC_VERIFIED,
            users=(User("br0K3n1", "founder@broke.example", "Frankie Founder"),),
            models=(
                DedicatedModel(
                    "d3m0b0t1",
                    "demo-bot",
                    (
                        Deployment(
                            "i9n4c7v", "deployment-1", "INACTIVE", "T4x4x16", is_production=True,
                            environment="production", autoscaling=Autoscaling(min_replica=1, max_replica=1),
                            created_days_ago=30, usage="until_credits", requests_per_minute=1.0,
                        ),
                    ),
                    created_days_ago=30,
                ),
            ),
            model_api_use=(ModelApiUse("openai/gpt-oss-120b", 2_000_000),),
            credits_granted=Decimal("30"),
            has_payment_method=False,
            chat_state="no_credits",
            history_days=30,
        ),
        "busy-bee": Workspace(
            name="busy-bee",
            team_name="Default Team",
            tier=BASIC_UNVERIFIED,
            users=(User("bz8Ee4r", "bee@busy.example", "Bea Busy"),),
            model_api_use=(ModelApiUse("openai/gpt-oss-120b", 1_400_000),),
            chat_state="rate_limited",
        ),
    }
)

SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        s.label: s
        for s in (
            Scenario("full-access", "team key, full access, Basic verified workspace", "WORKSPACE_MANAGE_ALL",
                     "acme-ml", "grace@example.com", "ops-full-access"),
            Scenario("personal", "personal key of ada@example.com", "PERSONAL", "acme-ml", "ada@example.com",
                     "ada-laptop"),
            Scenario("inference-scoped", "inference-only key scoped to one model; management refused",
                     "WORKSPACE_INVOKE", "acme-ml", "grace@example.com", "chatbot-invoke",
                     (SCOPED_LLAMA_ID,)),
            Scenario("metrics-only", "metrics-only key; inference refused, models/deployments readable",
                     "WORKSPACE_EXPORT_METRICS", "acme-ml", "grace@example.com", "grafana-export",
                     ("7wl3kx0q",)),
            Scenario("revoked", "a key that existed and was revoked (answered like an unknown key)", None,
                     "acme-ml", "grace@example.com", "old-invoke", status="revoked"),
            Scenario("invalid", "a well-shaped key unknown to Baseten", None, None, status="unknown"),
            Scenario("old-format", "full-access key in the pre-2026-10-01 8.32 format", "WORKSPACE_MANAGE_ALL",
                     "acme-ml", "ada@example.com", "legacy-admin", key_format="legacy"),
            Scenario("basic-unverified", "personal key, Basic unverified tier (15 RPM / 100k TPM)", "PERSONAL",
                     "solo-dev", "sam@example.com", "sam-key"),
            Scenario("pro", "team key, Pro tier (120 RPM / 1M TPM)", "WORKSPACE_MANAGE_ALL", "bigco-ai",
                     "pat@bigco.example", "platform-admin"),
            Scenario("lifecycle", "deployments in every lifecycle status and a month of usage",
                     "WORKSPACE_MANAGE_ALL", "lifecycle-lab", "lin@lifecycle.example", "lifecycle-admin"),
            Scenario("no-credits", "free credits ran out, no payment method: chat completions 402",
                     "WORKSPACE_MANAGE_ALL", "broke-startup", "founder@broke.example", "founder-admin"),
            Scenario("rate-limited", "workspace over its limit: chat completions 429 Retry-After: 2",
                     "WORKSPACE_MANAGE_ALL", "busy-bee", "bee@busy.example", "bee-admin"),
        )
    }
)

_ALNUM = string.ascii_letters + string.digits


def _random_alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_ALNUM) for _ in range(n))


def make_key(rng: random.Random, key_format: str = "b10") -> str:
    """A fake key shaped like a real one: ``b10_`` + 8 + ``.`` + 32 alnum, or legacy 8 + ``.`` + 32."""
    body = f"{_random_alnum(rng, 8)}.{_random_alnum(rng, 32)}"
    return f"b10_{body}" if key_format == "b10" else body


def key_prefix(key: str) -> str:
    """The visible prefix used for listing and revocation: the part before the dot."""
    head, dot, _ = key.partition(".")
    return head if dot else key[:8]


@dataclass(frozen=True)
class GeneratedKeys:
    keys: Mapping[str, str]  # scenario label -> key
    decoy_prefixes: Mapping[tuple[str, str], str]  # (workspace, decoy name) -> prefix


def generate_keys(seed: int | None) -> GeneratedKeys:
    """Generate one key per scenario (reproducible when ``seed`` is given) and decoy key prefixes."""
    rng: random.Random = random.Random(seed) if seed is not None else secrets.SystemRandom()
    keys = {label: make_key(rng, sc.key_format) for label, sc in SCENARIOS.items()}
    decoys = {
        (ws.name, name): key_prefix(make_key(rng)) for ws in WORKSPACES.values() for name, _ in ws.decoy_keys
    }
    return GeneratedKeys(MappingProxyType(keys), MappingProxyType(decoys))
