"""Kubernetes quantities: parsing every accepted suffix, canonical formatting, arithmetic, comparison."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpi_operator.controller.quantity import (
    QuantityError,
    canonical,
    parse_quantity,
    same_quantity,
)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("1", Fraction(1)),
        (2, Fraction(2)),
        (0.5, Fraction(1, 2)),
        ("1.5", Fraction(3, 2)),
        ("2k", Fraction(2000)),
        ("3M", Fraction(3_000_000)),
        ("1G", Fraction(10**9)),
        ("1T", Fraction(10**12)),
        ("1Ki", Fraction(1024)),
        ("2Mi", Fraction(2 * 1024**2)),
        ("16Gi", Fraction(16 * 1024**3)),
        ("1Ti", Fraction(1024**4)),
        ("1e3", Fraction(1000)),
        ("1.5Gi", Fraction(3 * 1024**3, 2)),
    ],
)
def test_parse_accepts_every_suffix(raw: str | int | float, value: Fraction) -> None:
    assert parse_quantity(raw).value == value


@pytest.mark.parametrize("raw", ["", "abc", "1Xi", "1..2", "Gi"])
def test_parse_rejects_garbage(raw: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(raw)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("500m", "500m"),
        ("0.5", "500m"),
        ("1.5", "1500m"),
        ("2000", "2k"),
        (21, "21"),
        ("42Gi", "42Gi"),
        ("1024Mi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("0.5Ki", "512"),
        ("0", "0"),
        ("1e3", "1k"),
    ],
)
def test_canonical_format(raw: str | int, text: str) -> None:
    assert canonical(raw) == text


def test_sum_keeps_the_receivers_format_and_multiplication_scales() -> None:
    total = parse_quantity("2Gi") + parse_quantity("20Gi") * 2
    assert str(total) == "42Gi"
    assert str(parse_quantity("1") + parse_quantity("10") * 2) == "21"


def test_values_compare_by_value_not_text() -> None:
    assert same_quantity("1Gi", "1073741824")
    assert same_quantity("1", "1000m")
    assert not same_quantity("1G", "1Gi")


SUFFIXES = ["n", "u", "m", "", "k", "M", "Ki", "Mi", "Gi"]


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(SUFFIXES))
def test_formatting_round_trips_by_value(number: int, suffix: str) -> None:
    quantity = parse_quantity(f"{number}{suffix}")
    assert parse_quantity(str(quantity)).value == quantity.value
