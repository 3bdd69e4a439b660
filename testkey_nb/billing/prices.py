"""Per-minute instance prices, with their provenance.

Two sources, never mixed silently:

* `PriceTable.default()`: the documented table (USD per minute per instance type) transcribed from
  public pages, provenance ``documented``. Its source is third-party
  transcriptions of baseten.co/pricing and docs.baseten.co/deployment/resources (Jul–Sep 2026).
* `PriceTable.from_instance_type_prices(body)`: the body of ``GET /v1/instance_type_prices``
  (``{"instance_types": [{"instance_type": {"id", "name", ...}, "price": <USD/min>}]}``) when the key
  can read it, provenance ``observed``.

Lookups are exact on the instance type name or id (case-insensitive), plus the GPU short names of
the documented table (``A10G``, ``H100``...). Nothing else is guessed: a multi-GPU variant that is
not in the table has no price, and metering asks for a ``price_per_minute`` column instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from testkey_nb.billing.errors import PriceError

if TYPE_CHECKING:
    import polars as pl

DEFAULT_SOURCE = (
    "baseten.co/pricing via docs.baseten.co/deployment/resources, third-party transcriptions Jul–Sep 2026"
)
DEFAULT_AS_OF = "2026-09"
OBSERVED_SOURCE = "GET /v1/instance_type_prices"

# (instance type name, GPU short name, description, USD per minute): third-party transcriptions of baseten.co/pricing.
_DOCUMENTED: tuple[tuple[str, str, str, float], ...] = (
    ("T4x4x16", "T4", "T4 16GB", 0.01052),
    ("L4:4x16", "L4", "L4 24GB", 0.01414),
    ("A10Gx4x16", "A10G", "A10G 24GB", 0.02012),
    ("A100:12x144", "A100", "A100 80GB", 0.06667),
    ("H100MIG", "H100MIG", "H100 MIG 40GB (instance name not documented)", 0.0625),
    ("H100", "H100", "H100 80GB", 0.10833),
    ("B200", "B200", "B200 180GB", 0.16633),
)

Provenance = Literal["documented", "observed"]


@dataclass(frozen=True)
class PriceTable:
    """USD per minute by instance type, with where the numbers come from.

    ``prices`` maps instance type names (and ids) to USD/minute; ``aliases`` maps extra lookup names
    (GPU short names) to a key of ``prices``.
    """

    prices: Mapping[str, float]
    source: str
    as_of: str | None
    provenance: Provenance
    aliases: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def default(cls) -> PriceTable:
        """The documented table (provenance ``documented``)."""
        return cls(
            prices={name: price for name, _, _, price in _DOCUMENTED},
            source=DEFAULT_SOURCE,
            as_of=DEFAULT_AS_OF,
            provenance="documented",
            aliases={short: name for name, short, _, _ in _DOCUMENTED if short != name},
        )

    @classmethod
    def from_instance_type_prices(cls, body: Any, *, as_of: str | None = None) -> PriceTable:
        """Parse a ``GET /v1/instance_type_prices`` body (provenance ``observed``).

        Raises `PriceError` when the body does not have the documented shape.
        """
        if not isinstance(body, dict) or not isinstance(body.get("instance_types"), list):
            raise PriceError("instance_type_prices: expected an object with an 'instance_types' list")
        prices: dict[str, float] = {}
        aliases: dict[str, str] = {}
        for i, item in enumerate(body["instance_types"]):
            where = f"instance_type_prices: instance_types[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("instance_type"), dict):
                raise PriceError(f"{where}: expected {{instance_type: {{...}}, price: number}}")
            it = item["instance_type"]
            name = it.get("name") or it.get("id")
            if not isinstance(name, str) or not name:
                raise PriceError(f"{where}.instance_type: missing 'name' and 'id'")
            price = _as_price(item.get("price"))
            if price is None:
                raise PriceError(
                    f"{where}.price: expected a number >= 0 (USD per minute), got {item.get('price')!r}"
                )
            prices[name] = price
            ident = it.get("id")
            if isinstance(ident, str) and ident and ident != name:
                aliases[ident] = name
        return cls(prices=prices, source=OBSERVED_SOURCE, as_of=as_of, provenance="observed", aliases=aliases)

    def price_of(self, instance_type: str | None) -> float | None:
        """USD per minute for an instance type name or id, or None when the table does not know it."""
        if not instance_type:
            return None
        key = self._resolve(instance_type)
        return None if key is None else float(self.prices[key])

    def _resolve(self, instance_type: str) -> str | None:
        if instance_type in self.prices:
            return instance_type
        if instance_type in self.aliases:
            return self.aliases[instance_type]
        folded = instance_type.lower()
        for name in self.prices:
            if name.lower() == folded:
                return name
        for alias, name in self.aliases.items():
            if alias.lower() == folded:
                return name
        return None

    def lookup_map(self) -> dict[str, float]:
        """Every lookup name (instance type names, ids, aliases), lower-cased -> USD per minute."""
        out: dict[str, float] = {}
        for name, price in self.prices.items():
            out.setdefault(name.lower(), float(price))
        for alias, name in self.aliases.items():
            out.setdefault(alias.lower(), float(self.prices[name]))
        return out

    def to_frame(self) -> pl.DataFrame:
        """(instance_type, price_per_minute, price_per_hour, provenance, source, as_of)."""
        import polars as pl

        names = list(self.prices)
        per_min = [float(self.prices[n]) for n in names]
        return pl.DataFrame(
            {
                "instance_type": names,
                "price_per_minute": per_min,
                "price_per_hour": [p * 60 for p in per_min],
                "provenance": [self.provenance] * len(names),
                "source": [self.source] * len(names),
                "as_of": [self.as_of] * len(names),
            },
            schema={
                "instance_type": pl.String,
                "price_per_minute": pl.Float64,
                "price_per_hour": pl.Float64,
                "provenance": pl.String,
                "source": pl.String,
                "as_of": pl.String,
            },
        )

    def provenance_dict(self) -> dict[str, str | None]:
        return {"provenance": self.provenance, "source": self.source, "as_of": self.as_of}


def _as_price(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        price = float(value)
    elif isinstance(value, str):
        try:
            price = float(value)
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(price) or price < 0:
        return None
    return price
