"""From the digits read to the value published: decimal shift and unit.

A meter's wheels show ``0123456`` where the last three wheels are the
fractional part; with ``[output] decimals = 3`` and ``unit = "m³"`` the value
is 123.456 m³. The raw digit text always travels with it (the field log keeps
only the raw text, so a wrong ``decimals`` can be fixed after the fact).
Decimal arithmetic, so 123456 scaled by 3 is exactly 123.456, never
123.45599999.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .errors import DigitcamError, ExitStatus


class BadValue(DigitcamError):
    """A value given by the user that is not a reading this unit could make."""

    exit_status = ExitStatus.USAGE


def scaled(text: str, decimals: int) -> Decimal | None:
    """``text`` (ASCII digits) as a number with ``decimals`` places; None if it is not digits."""
    if not text or not (text.isascii() and text.isdigit()):
        return None
    return Decimal(int(text)).scaleb(-decimals).quantize(Decimal(1).scaleb(-decimals))


def number(text: str, decimals: int) -> float | int | None:
    """The JSON-ready number: an int without decimals, else the shortest float that
    prints as the scaled value (123456, 3 -> 123.456)."""
    value = scaled(text, decimals)
    if value is None:
        return None
    return int(value) if decimals == 0 else float(value)


def display(text: str, decimals: int, unit: str) -> str:
    """``"123.456 m³"``; the raw text as it is when it is not digits."""
    value = scaled(text, decimals)
    shown = text if value is None else f"{value:f}"
    return f"{shown} {unit}" if unit else shown


def parse_user_value(given: str, decimals: int, width: int = 0) -> str:
    """A value typed by a user (``set-value``, the MQTT command) as raw digit text.

    It is read as the published value, in the unit, whatever its form: with
    decimals 3, ``123.456`` and ``123.4560`` are ``123456`` and ``7`` is
    ``7000``. ``width`` (the expected digit count, 0 = any) pads with zeros the
    way the wheels show it. Raises a one-line error otherwise.
    """
    given = given.strip()
    if not given:
        raise BadValue("no value given")
    try:
        value = Decimal(given)
    except InvalidOperation:
        raise BadValue(f"not a number: {given!r}") from None
    if not value.is_finite() or value < 0:
        raise BadValue(f"expected a number >= 0, got {given!r}")
    shifted = value.scaleb(decimals)
    if shifted != shifted.to_integral_value():
        raise BadValue(f"{given} has more than {decimals} decimal place(s) (output.decimals = {decimals})")
    raw = str(int(shifted)).zfill(width)  # zfill(0) leaves it as it is
    if width and len(raw) > width:
        raise BadValue(f"{given} needs more than {width} digits (stabiliser.expected_digits = {width})")
    return raw
