"""Signed receipts: every approved payment or transfer can be shown to its payee as a short code,
signed with the operator's Ed25519 key, that anyone can check (``POST /v1/receipts/verify``, the
public ``/verify`` page, ``qalqan receipts verify``). See docs/receipts.md.

``keys`` holds the operator's signing keys, ``code`` the payload, its signature and the short code,
``issue`` issues receipts from the record and verifies them. Nothing is imported here, so the CLI
loads the cryptography library only when a receipts command runs.
"""
