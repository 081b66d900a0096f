"""Kubernetes resource quantities (`500m`, `2Gi`, `1.5`, `1e3`): parse, add, multiply, format canonically.

Invariant: values are exact fractions; formatting follows apimachinery's canonical form (binary suffixes
only for whole multiples of 1024 of at least 1Ki, otherwise the largest decimal suffix with an integer
mantissa, rounding up below 1n), so the same value always prints the same way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exp: suffix for suffix, exp in _DECIMAL.items()}
_BINARY_SUFFIX = {power: suffix for suffix, power in _BINARY.items()}
_PATTERN = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|([a-zA-Z]*))$")


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


@dataclass(frozen=True)
class Quantity:
    """An exact quantity; `binary` remembers whether it was written with a power-of-1024 suffix."""

    value: Fraction
    binary: bool = False

    def __add__(self, other: Quantity) -> Quantity:
        # Like apimachinery's Add: the receiver's format wins.
        return Quantity(self.value + other.value, self.binary)

    def __mul__(self, factor: int) -> Quantity:
        return Quantity(self.value * factor, self.binary)

    def __str__(self) -> str:
        return format_quantity(self)


def parse_quantity(raw: str | int | float) -> Quantity:
    """Parse a quantity as found in JSON (YAML `cpu: 1` arrives as an int)."""
    if isinstance(raw, bool):
        raise QuantityError(f"not a quantity: {raw!r}")
    if isinstance(raw, int):
        return Quantity(Fraction(raw))
    if isinstance(raw, float):
        return Quantity(Fraction(repr(raw)))
    match = _PATTERN.match(raw.strip())
    if match is None:
        raise QuantityError(f"not a quantity: {raw!r}")
    number, exponent, suffix = match.groups()
    value = Fraction(number)
    if exponent is not None:
        return Quantity(value * Fraction(10) ** int(exponent[1:]))
    suffix = suffix or ""
    if suffix in _BINARY:
        return Quantity(value * 1024 ** _BINARY[suffix], binary=True)
    if suffix in _DECIMAL:
        return Quantity(value * Fraction(10) ** _DECIMAL[suffix])
    raise QuantityError(f"unknown quantity suffix in {raw!r}")


def format_quantity(quantity: Quantity) -> str:
    value = quantity.value
    if value == 0:
        return "0"
    if quantity.binary and abs(value) >= 1024 and value.denominator == 1:
        number, power = int(value), 0
        while power < 6 and number % 1024 == 0:
            number //= 1024
            power += 1
        if power > 0:
            return f"{number}{_BINARY_SUFFIX[power]}"
        return str(number)
    return _format_decimal(value)


def _format_decimal(value: Fraction) -> str:
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    exponent = -9
    for candidate in (0, -3, -6, -9):
        if (magnitude / Fraction(10) ** candidate).denominator == 1:
            exponent = candidate
            break
    # Below nano precision apimachinery rounds up.
    mantissa = math.ceil(magnitude / Fraction(10) ** exponent)
    while exponent < 18 and mantissa % 1000 == 0:
        mantissa //= 1000
        exponent += 3
    return f"{sign}{mantissa}{_DECIMAL_SUFFIX[exponent]}"


def canonical(raw: str | int | float) -> str:
    """The canonical string of a quantity given in any accepted form."""
    return format_quantity(parse_quantity(raw))


def same_quantity(a: str | int | float, b: str | int | float) -> bool:
    """Compare by value (`1Gi` equals `1073741824`); unparsable values compare as text."""
    try:
        return parse_quantity(a).value == parse_quantity(b).value
    except QuantityError:
        return str(a) == str(b)
