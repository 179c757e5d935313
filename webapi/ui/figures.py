"""Usage figures as the dashboard writes them: money to the cent once it is large, to the
millionth (as the API rounds it) while it is small, and seconds with thousands separators."""

from __future__ import annotations

from decimal import Decimal

MILLIONTH = Decimal("0.000001")
LARGE = 1000  # from here on, cents are precise enough


def money(value: Decimal | float | int | None) -> str:
    """``$1,234.57``, ``$12.50``, ``$0.000022``; ``–`` for no figure."""
    if value is None:
        return "–"
    amount = Decimal(str(value))
    if abs(amount) >= LARGE:
        return f"${amount:,.2f}"
    text = f"{amount.quantize(MILLIONTH):,.6f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def amount(value: Decimal | float | int | None, places: int = 3) -> str:
    """A quantity (seconds, vCPU-seconds, GB-hours) with separators, up to ``places``
    decimals and no trailing zeros."""
    if value is None:
        return "–"
    text = f"{Decimal(str(value)):,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def hours(seconds: Decimal | float | int | None) -> str:
    """Seconds as hours, to as many places as keep a small figure from showing as 0."""
    if seconds is None:
        return "–"
    value = Decimal(str(seconds)) / 3600
    return amount(value, 2 if value >= 1 else 4 if value >= Decimal("0.01") else 6)
