"""privacy.py: redaction cases the leak tests leave open, found by mutation testing (docs/mutation.md).
A wrong line here stores a client's account or phone number in clear, or destroys an identifier
that names a merchant, an ATM or an event.
"""

from __future__ import annotations

import pytest

from qalqan.privacy import REDACTED, is_card_number, pii_kind, redact

PREFIXES = ["30", "40", "41", "42"]  # correspondent, then clients' balance accounts
CURRENCIES = ["810", "643", "398", "840", "978", "156"]  # roubles (old and new code), tenge, $, €, yuan
ALL_DIGITS_UUID = "12345678-1234-1234-1234-123456789012"  # a UUID whose digits alone would look like an account


def _account(prefix: str, currency: str) -> str:
    return f"{prefix}817{currency}000000000001"  # 20 digits: balance account, currency, the rest


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("currency", CURRENCIES)
def test_an_account_shaped_number_in_an_identifier_is_redacted(prefix, currency):
    acc = _account(prefix, currency)
    assert len(acc) == 20
    assert redact(f"ref-{acc}", ids=True) == f"ref-{REDACTED}"
    assert pii_kind(f"ref-{acc}", ids=True) == "an account number"


@pytest.mark.parametrize("number", [
    _account("40", "999"),  # a client's balance account shape, but no currency
    _account("50", "810"),  # a currency, but not a balance account
    "12345678901234567890",
])
def test_other_20_digit_numbers_in_an_identifier_are_kept(number):
    """In an identifier, numbers name things (sequences, timestamps): only the account's shape counts."""
    assert redact(f"ref-{number}", ids=True) == f"ref-{number}"
    assert pii_kind(f"ref-{number}", ids=True) is None
    assert redact(f"ref {number}") == f"ref {REDACTED}"  # in free strings any 20 digits are an account


@pytest.mark.parametrize("number", ["79161234567", "89161234567"])
def test_an_11_digit_number_is_a_phone_in_a_string_but_a_sequence_in_an_identifier(number):
    assert redact(f"order-{number}", ids=True) == f"order-{number}"
    assert redact(f"call {number}") == f"call {REDACTED}"


@pytest.mark.parametrize("ids", [False, True])
def test_long_numbers_that_are_no_personal_data_are_kept_as_they_are(ids):
    for s in ["batch 1234567890123", "ts 1700000000123456", "ref 4111111111111112"]:  # the last fails Luhn
        assert redact(s, ids=ids) == s


@pytest.mark.parametrize("ids", [False, True])
def test_a_uuid_is_kept_and_the_personal_data_around_it_is_not(ids):
    card = "4111 1111 1111 1111"
    s = f"x {ALL_DIGITS_UUID} card {card} and {ALL_DIGITS_UUID} card {card}"
    assert redact(s, ids=ids) == f"x {ALL_DIGITS_UUID} card {REDACTED} and {ALL_DIGITS_UUID} card {REDACTED}"
    assert redact(f"order {ALL_DIGITS_UUID}", ids=ids) == f"order {ALL_DIGITS_UUID}"
    assert pii_kind(f"order {ALL_DIGITS_UUID}", ids=ids) is None


def _card(prefix: str, n: int) -> str:
    """An n-digit number beginning with ``prefix`` whose last digit makes the Luhn sum right."""
    body = prefix + "0" * (n - len(prefix) - 1)
    total = 0
    for i, ch in enumerate(reversed(body)):  # the check digit will be position 0
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str(-total % 10)


# (prefix, length, a card?) at each edge of each scheme's prefixes and lengths
SCHEME_EDGES = [
    ("4", 13, True), ("4", 16, True), ("4", 19, True), ("4", 14, False), ("4", 15, False), ("4", 18, False),
    ("51", 16, True), ("55", 16, True), ("51", 17, False), ("55", 15, False),  # Mastercard: 16 digits only
    ("2221", 16, True), ("2720", 16, True), ("2220", 16, False), ("2721", 16, False), ("2221", 17, False),
    ("56", 17, True),  # Maestro from 56, any length from 16
    ("34", 15, True), ("37", 15, True), ("34", 16, False), ("37", 14, False), ("35", 15, False), ("38", 15, False),
    ("2200", 16, True), ("2204", 19, True), ("2199", 16, False), ("2205", 16, False), ("2200", 15, False),  # Mir
    ("3528", 16, True), ("3589", 16, True), ("3527", 16, False), ("3590", 16, False), ("3528", 15, False),  # JCB
    ("6011", 16, True), ("62", 16, True), ("644", 16, True), ("649", 16, True), ("65", 16, True), ("62", 15, False),
    ("300", 14, True), ("305", 14, True), ("36", 14, True), ("38", 14, True), ("39", 14, True),  # Diners
    ("300", 16, True), ("306", 14, False), ("300", 15, False), ("37", 13, False),
    ("50", 16, True), ("69", 19, True), ("50", 15, False),  # Maestro
    ("8600", 16, True), ("9860", 16, True), ("9792", 16, True), ("8600", 17, False), ("8601", 16, False),
    ("1", 16, False), ("9", 16, False), ("7", 19, False), ("1", 14, False),  # no scheme
]


@pytest.mark.parametrize("prefix, n, card", SCHEME_EDGES, ids=[f"{p}/{n}" for p, n, _ in SCHEME_EDGES])
def test_a_card_number_is_a_schemes_prefix_and_length_that_passes_luhn(prefix, n, card):
    number = _card(prefix, n)
    assert len(number) == n and number.startswith(prefix)
    assert is_card_number(number) is card
    assert pii_kind(f"ref-{number}", ids=True) == ("a card number" if card else None)


def test_luhn_fails_on_any_other_check_digit():
    good = _card("4", 16)
    assert is_card_number(good)
    for d in "0123456789":
        if d != good[-1]:
            assert not is_card_number(good[:-1] + d)


@pytest.mark.parametrize("s, kind", [
    ("+7 916 123 45 67", "a phone number"),
    ("+123456789012345", "a phone number"),  # 15 digits after a +: the longest international number
    ("+1234567890123456", None),  # 16: no phone
    ("8 (916) 123-45-67", "a phone number"),
    ("89161234567", "a phone number"),
    ("79161234567", "a phone number"),
    ("59161234567", None),  # 11 digits not starting 7 or 8
    ("916 123 45 67", "a phone number"),  # 10 digits written as a phone
    ("916-123-45-67", "a phone number"),
    ("9161234567", None),  # 10 digits in a row: a number, not a phone
    ("516 123 45 67", None),
    ("123456789", None),  # under 10 digits: nothing
    ("1234567890", None),
])
def test_phone_shapes_in_a_string(s, kind):
    assert pii_kind(f"x {s} y") == kind
    assert redact(f"x {s} y") == (f"x {s} y" if kind is None else f"x {REDACTED} y")


@pytest.mark.parametrize("s, kind", [
    ("8(916)1234567", "a phone number"),  # brackets: a phone even in an identifier
    ("+79161234567", "a phone number"),
    ("89161234567", None),  # a bare 11-digit number in an identifier names something
])
def test_phone_shapes_in_an_identifier(s, kind):
    assert pii_kind(f"id-{s}", ids=True) == kind


@pytest.mark.parametrize("s, card", [
    ("order 12 4111 1111 1111 1111", True),  # a card number written beside another number
    ("order 4111 1111 1111 1111 12", True),
    ("order 12 1234 5678 9012 3456", False),
    ("batch 1234 5678 9012 34", False),
])
def test_a_card_number_beside_other_numbers_is_still_found(s, card):
    assert pii_kind(s) == ("a card number" if card else None)
    assert (REDACTED in redact(s)) is card
