"""privacy.py: redaction cases the leak tests leave open, found by mutation testing (docs/mutation.md).
A wrong line here stores a client's account or phone number in clear, or destroys an identifier
that names a merchant, an ATM or an event.
"""

from __future__ import annotations

import pytest

from qalqan.privacy import REDACTED, pii_kind, redact

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
