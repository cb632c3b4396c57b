"""Console users: passwords kept only as scrypt hashes, errors that name the field, the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from qalqan.cli import app
from qalqan.console.users import UserBook, UserError, hash_password, verify_password


def test_a_password_is_stored_only_as_a_salted_scrypt_hash(isolated_home) -> None:
    book = UserBook.load(isolated_home)
    book.create("ana", "analyst", "bank", "a long passphrase")
    raw = (isolated_home / "console-users.json").read_text()
    assert "a long passphrase" not in raw
    (stored,) = [u["scrypt"] for u in json.loads(raw)]
    n, r, p, salt, digest = stored.split("$")
    assert int(n) >= 2**14 and len(bytes.fromhex(salt)) == 16 and len(bytes.fromhex(digest)) == 32
    assert hash_password("a long passphrase") != stored  # a fresh salt each time
    assert (isolated_home / "console-users.json").stat().st_mode & 0o077 == 0
    again = UserBook.load(isolated_home)
    assert again.authenticate("ana", "a long passphrase") is not None
    assert again.authenticate("ana", "a long passphrasE") is None
    assert again.authenticate("bob", "a long passphrase") is None


def test_verify_refuses_a_damaged_hash() -> None:
    assert not verify_password("x", "not a hash")
    assert not verify_password("x", "16384$8$1$zz$00")


@pytest.mark.parametrize(("args", "field"), [
    (("a b", "analyst", "bank", "a long passphrase"), "name"),
    (("ana", "integrator", "bank", "a long passphrase"), "role"),
    (("ana", "analyst", " ", "a long passphrase"), "org"),
    (("ana", "analyst", "bank", "short"), "password"),
    (("ana", "merchant", "bank", "a long passphrase"), "merchant"),
])
def test_bad_users_are_refused_naming_the_field(isolated_home, args, field) -> None:
    with pytest.raises(UserError) as err:
        UserBook.load(isolated_home).create(*args)
    assert err.value.field == field


def test_a_name_is_taken_once_and_a_disabled_user_cannot_log_in(isolated_home) -> None:
    book = UserBook.load(isolated_home)
    book.create("ana", "analyst", "bank", "a long passphrase")
    with pytest.raises(UserError, match="exists already"):
        book.create("ana", "admin", "bank", "another long one")
    assert book.disable("ana") and not book.disable("ana")
    assert UserBook.load(isolated_home).authenticate("ana", "a long passphrase") is None


def test_the_cli_makes_lists_and_disables_users(isolated_home) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["users", "create", "ana", "--role", "analyst", "--org", "bank", "--password-stdin"],
                      input="a long passphrase\n")
    assert r.exit_code == 0, r.output
    assert "user ana (analyst, bank) created" in r.output
    r = runner.invoke(app, ["users", "create", "air", "--role", "merchant", "--org", "bank", "--merchant",
                            "airline", "--password-stdin"], input="another long passphrase\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["users", "create", "bob", "--role", "analyst", "--org", "bank", "--password-stdin"],
                      input="short\n")
    assert r.exit_code == 2 and "password: must be at least 10 characters" in r.output
    r = runner.invoke(app, ["users", "list"])
    assert "ana" in r.output and "air" in r.output and "scrypt" not in r.output and "16384$" not in r.output
    assert runner.invoke(app, ["users", "disable", "ana"]).exit_code == 0
    assert runner.invoke(app, ["users", "disable", "ana"]).exit_code == 1
    assert "disabled" in runner.invoke(app, ["users", "list"]).output
