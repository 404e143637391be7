"""Kubernetes resource quantities: ``250m`` CPU, ``256Mi`` memory, ``1e3`` and the like.

Parsing goes through :class:`~decimal.Decimal` so that ``0.1Gi`` or ``1.5`` become exact byte and
millicore counts before any rounding; only the public results are floats or ints.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from testbed.errors import QuantityError

__all__ = ["format_cpu", "format_memory", "parse_cpu", "parse_memory", "parse_quantity"]

_BINARY_SUFFIXES: dict[str, int] = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_DECIMAL_SUFFIXES: dict[str, Decimal] = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
# A decimal exponent ("1e3", "2E-2") is tried before the suffixes so that "1E3" is not read as
# exa followed by garbage; a bare "E" (exa) still matches the suffix branch.
_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<number>\d+(?:\.\d*)?|\.\d+)"
    r"(?:(?P<exponent>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?"
)


def _to_decimal(q: str | int | float) -> Decimal:
    """Parse ``q`` into an exact non-negative decimal, or raise :class:`QuantityError`."""
    if isinstance(q, bool) or not isinstance(q, int | float | str):
        raise QuantityError(f"invalid quantity {q!r}: expected a string or a number")
    if isinstance(q, int | float):
        if isinstance(q, float) and not math.isfinite(q):
            raise QuantityError(f"invalid quantity {q!r}: must be finite")
        if q < 0:
            raise QuantityError(f"invalid quantity {q!r}: must not be negative")
        return Decimal(str(q))
    text = q.strip()
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise QuantityError(
            f"invalid quantity {q!r}: expected a number with an optional suffix "
            "(n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei) or exponent (1e3)"
        )
    if match["sign"] == "-" and Decimal(match["number"]) != 0:
        raise QuantityError(f"invalid quantity {q!r}: must not be negative")
    try:
        value = Decimal(match["number"])
        if match["exponent"]:
            value = value.scaleb(int(match["exponent"][1:]))
    except (InvalidOperation, ValueError) as exc:
        raise QuantityError(f"invalid quantity {q!r}: {exc}") from exc
    suffix = match["suffix"] or ""
    if suffix in _BINARY_SUFFIXES:
        return value * _BINARY_SUFFIXES[suffix]
    return value * _DECIMAL_SUFFIXES[suffix]


def parse_quantity(q: str | int | float) -> float:
    """Return the value of a quantity in base units (``"1Ki"`` → 1024.0, ``"250m"`` → 0.25)."""
    return float(_to_decimal(q))


def parse_cpu(q: str | int | float) -> float:
    """Return a CPU quantity in cores (``"250m"`` → 0.25, ``2`` → 2.0)."""
    return parse_quantity(q)


def parse_memory(q: str | int | float) -> int:
    """Return a memory quantity in bytes, rounded up (``"256Mi"`` → 268435456)."""
    return math.ceil(_to_decimal(q))


def format_cpu(cores: float) -> str:
    """Format cores as Kubernetes does: whole cores as ``"2"``, the rest as millicores ``"1500m"``.

    Fractions of a millicore are rounded up, as the API server does, so a tiny request never
    becomes zero.
    """
    if isinstance(cores, bool) or not math.isfinite(cores) or cores < 0:
        raise QuantityError(f"cannot format {cores!r} as a CPU quantity")
    # Round to a micro-millicore first so float noise (0.1 + 0.2) does not round up a whole unit.
    millis = math.ceil(round(Decimal(str(cores)) * 1000, 6))
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis}m"


def format_memory(nbytes: int) -> str:
    """Format bytes with the largest exact binary suffix (``268435456`` → ``"256Mi"``)."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
        raise QuantityError(f"cannot format {nbytes!r} as a memory quantity")
    if nbytes == 0:
        return "0"
    for suffix, factor in reversed(_BINARY_SUFFIXES.items()):
        if nbytes % factor == 0:
            return f"{nbytes // factor}{suffix}"
    return str(nbytes)
