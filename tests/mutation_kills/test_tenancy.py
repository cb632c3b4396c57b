"""tenancy.py: each organisation's tokenisation key, found by mutation testing (docs/mutation.md).
A wrong line here puts two organisations' clients under one token (their windows and lists meet), or
changes every token of a record made before (its history is lost to the rules).
"""

from __future__ import annotations

from hashlib import blake2b

import pytest

from qalqan.privacy import Tokenizer
from qalqan.store.base import DEFAULT_ORG
from qalqan.tenancy import Tokenizers, org_key


@pytest.mark.parametrize("key", [b"k" * 32, bytes(range(100))])
def test_an_organisations_key_is_keyed_blake2b_of_its_name(key):
    """Every process with the same QALQAN_KEY must derive the same key: a known answer, by hashlib."""
    want = blake2b(b"qalqan-org\x1fbank-a", key=key[:64], digest_size=32).digest()
    assert org_key(key, "bank-a") == want and len(want) == 32
    assert org_key(key, "bank-b") != want


def test_the_default_organisation_keeps_the_deployments_key():
    key = b"k" * 32
    assert org_key(key, DEFAULT_ORG) is key
    t = Tokenizers(key)
    assert t.of(DEFAULT_ORG) is t.default
    assert t.default.token("C1") == Tokenizer(key).token("C1")


def test_each_organisation_has_one_tokenizer_under_its_own_key():
    key = b"k" * 32
    t = Tokenizers(key)
    a = t.of("bank-a")
    assert t.of("bank-a") is a and t.of("bank-b") is not a
    assert a.token("C1") == Tokenizer(org_key(key, "bank-a")).token("C1")
    assert len({t.of(o).token("C1") for o in (DEFAULT_ORG, "bank-a", "bank-b")}) == 3


def test_every_organisation_shares_the_consortiums_key():
    """The consortium's tokens (intel/) are the only ones that match across organisations and banks."""
    key, consortium = b"k" * 32, b"c" * 32
    t = Tokenizers(key, consortium)
    want = Tokenizer(consortium).token("40817810000000000555")
    for org in (DEFAULT_ORG, "bank-a", "bank-b"):
        assert t.of(org).consortium is not None and t.of(org).consortium.token("40817810000000000555") == want
    assert Tokenizers(key).of("bank-a").consortium is None and Tokenizers(key).default.consortium is None
