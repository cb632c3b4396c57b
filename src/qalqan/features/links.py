"""Screening of links in messages and listings: look-alike domains of known brands.

The "courier delivery" phishing of docs/design.md (fraud 6) sends a link to a domain that imitates a
marketplace, a bank or a delivery service (kaspi-dostavka.top, 0zon-delivery.ru). A domain is
suspicious when, after undoing common character swaps, it contains a brand's name but is not
one of that brand's own domains.
"""

from __future__ import annotations

import re

_URL = re.compile(r"(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,24})(?:[/:?#]\S*)?", re.IGNORECASE)
_SWAPS = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "@": "a", "_": "-"})

OFFICIAL: dict[str, tuple[str, ...]] = {
    "kaspi": ("kaspi.kz",),
    "halyk": ("halykbank.kz", "homebank.kz"),
    "ozon": ("ozon.ru", "ozon.kz"),
    "wildberries": ("wildberries.ru", "wildberries.kz", "wb.ru"),
    "avito": ("avito.ru",),
    "olx": ("olx.kz",),
    "kolesa": ("kolesa.kz",),
    "krisha": ("krisha.kz",),
    "sber": ("sberbank.ru", "sber.ru"),
    "tinkoff": ("tinkoff.ru", "tbank.ru"),
    "gosuslugi": ("gosuslugi.ru",),
    "egov": ("egov.kz",),
    "cdek": ("cdek.ru", "cdek.kz"),
    "kazpost": ("post.kz",),
}


def domains(text: str) -> list[str]:
    return [m.group(1).lower() for m in _URL.finditer(text)]


def is_lookalike(domain: str) -> bool:
    plain = domain.lower().translate(_SWAPS)
    for brand, own in OFFICIAL.items():
        if brand in plain and not any(domain == d or domain.endswith("." + d) for d in own):
            return True
    return False


def has_suspicious_link(text: str | None) -> bool:
    if not text:
        return False
    return any(is_lookalike(d) for d in domains(text))
