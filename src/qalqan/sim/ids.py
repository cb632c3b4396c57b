"""Realistic raw identifiers: card numbers, accounts, phones, devices, addresses.

The engine tokenises these at its boundary, so they look like the real thing: card numbers pass
the Luhn check, Russian accounts carry the control key computed against the bank's BIC, Kazakh
IBANs carry valid ISO 13616 check digits. Every function takes the caller's ``random.Random`` so
that a seed fixes every identifier.
"""

from __future__ import annotations

from random import Random

# Russian banks: (name, BIC). Our own bank is the first one of each country.
RU_BANKS = [
    ("Qalqan Bank", "044525999"),
    ("Sberbank", "044525225"),
    ("T-Bank", "044525974"),
    ("VTB", "044525187"),
    ("Alfa-Bank", "044525593"),
    ("Gazprombank", "044525823"),
    ("Ozon Bank", "044525068"),
    ("Raiffeisenbank", "044525700"),
]
# Kazakh banks: (name, 3-digit IBAN bank code).
KZ_BANKS = [
    ("Qalqan Bank", "914"),
    ("Kaspi Bank", "722"),
    ("Halyk Bank", "601"),
    ("ForteBank", "965"),
    ("Bank CenterCredit", "826"),
    ("Jusan Bank", "998"),
    ("Freedom Bank", "551"),
]
FOREIGN_BANKS = {
    "KG": "Optima Bank", "UZ": "Kapitalbank", "TJ": "Eskhata Bank", "AM": "Ameriabank",
    "GE": "TBC Bank", "TR": "Ziraat Bankasi", "AE": "Emirates NBD", "CN": "Bank of China",
}
CARD_BINS = {
    "RU": ["220220", "220070", "220015", "427638", "546901", "220412"],
    "KZ": ["440043", "440563", "404932", "539545", "417587"],
}
KZ_MOBILE = ["700", "701", "702", "705", "707", "708", "747", "771", "775", "776", "777", "778"]
FOREIGN_PHONE = {"KG": "+996", "UZ": "+998", "TJ": "+992", "AM": "+374", "GE": "+995", "TR": "+90"}
# First octets of address blocks registered in each country (coarse, good enough for geo-IP).
IP_BLOCKS = {
    "RU": [(5, 3), (31, 173), (37, 145), (46, 242), (77, 88), (78, 25), (85, 26), (95, 24), (178, 176),
           (188, 162), (212, 46), (217, 66)],
    "KZ": [(2, 132), (2, 134), (5, 76), (37, 150), (46, 34), (92, 46), (178, 88), (212, 154)],
    "TR": [(78, 160), (88, 230)], "AE": [(94, 200), (86, 96)], "DE": [(84, 128), (91, 64)],
    "NL": [(185, 107), (45, 83)], "US": [(104, 28), (172, 98)], "GE": [(31, 146), (188, 129)],
    "UZ": [(84, 54), (213, 230)], "KG": [(212, 112), (176, 126)], "VN": [(113, 160), (14, 161)],
    "TH": [(49, 228)], "CN": [(36, 112)], "ES": [(88, 26)], "IT": [(93, 44)], "AM": [(46, 70)],
    "TJ": [(217, 11)], "FR": [(90, 84)],
}
ISPS = {
    "RU": ["MTS", "Beeline", "MegaFon", "Tele2", "Rostelecom", "Dom.ru"],
    "KZ": ["Kcell", "Beeline KZ", "Tele2 Altel", "Kazakhtelecom"],
}
_RU_KEY_WEIGHTS = (7, 1, 3) * 8
_RU_HEAD: dict[tuple[str, str], int] = {}
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def digits(rng: Random, n: int) -> str:
    return str(rng.getrandbits(64) % (10**n)).zfill(n) if n <= 18 else digits(rng, 18) + digits(rng, n - 18)


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_complete(body: str) -> str:
    """Append the Luhn check digit to ``body``."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = ord(ch) - 48
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def card_number(rng: Random, country: str) -> str:
    bins = CARD_BINS.get(country, CARD_BINS["RU"])
    prefix = bins[int(rng.random() * len(bins))]
    return luhn_complete(prefix + digits(rng, 15 - len(prefix)))


def card_of(account: str, country: str) -> str:
    """The card a person keeps on ``account``: stable, so a repeat card2card recipient stays the same."""
    bins = CARD_BINS.get(country, CARD_BINS["RU"])
    digs = "".join(ch for ch in account if ch.isdigit())
    prefix = bins[int(digs[-3:]) % len(bins)]
    return luhn_complete(prefix + digs[-(15 - len(prefix)):])


def ru_account(rng: Random, bic: str, prefix: str = "40817810") -> str:
    """A 20-digit Russian account with the control key (position 9) valid for ``bic``."""
    head = _RU_HEAD.get((bic, prefix))
    if head is None:  # the weighted sum of the BIC's last 3 digits, the prefix and a zero key
        head = _RU_HEAD[bic, prefix] = _ru_sum(bic[-3:] + prefix + "0", 0)
    tail = digits(rng, 11)
    key = (head + _ru_sum(tail, 12)) % 10 * 3 % 10
    return prefix + str(key) + tail


def _ru_sum(digits_: str, start: int) -> int:
    return sum([(ord(ch) - 48) * w % 10 for ch, w in zip(digits_, _RU_KEY_WEIGHTS[start:])])


def kz_iban(rng: Random, bank_code: str) -> str:
    bban = bank_code + digits(rng, 13)  # all digits; "KZ00" moved to the end reads 203500
    check = 98 - int(bban + "203500") % 97
    return f"KZ{check:02d}{bban}"


def account(rng: Random, country: str, bank_index: int = 0, business: bool = False) -> tuple[str, str]:
    """(account number, bank name) at the bank ``bank_index`` of ``country`` (0: our bank)."""
    if country == "KZ":
        name, code = KZ_BANKS[bank_index % len(KZ_BANKS)]
        return kz_iban(rng, code), name
    name, bic = RU_BANKS[bank_index % len(RU_BANKS)]
    return ru_account(rng, bic, "40702810" if business else "40817810"), name


def other_bank_account(rng: Random, country: str, business: bool = False) -> tuple[str, str]:
    n = len(KZ_BANKS) if country == "KZ" else len(RU_BANKS)
    return account(rng, country, 1 + int(rng.random() * (n - 1)), business)


def foreign_account(rng: Random, country: str) -> tuple[str, str]:
    """An account abroad, for cross-border transfers: an IBAN-like or plain number."""
    if country in ("GE", "TR", "AE"):
        return f"{country}{digits(rng, 2)}{digits(rng, 18)}", FOREIGN_BANKS[country]
    return digits(rng, 20), FOREIGN_BANKS.get(country, "Foreign Bank")


def phone(rng: Random, country: str) -> str:
    if country == "KZ":
        return "+7" + KZ_MOBILE[int(rng.random() * len(KZ_MOBILE))] + digits(rng, 7)
    if country == "RU":
        return "+79" + digits(rng, 9)
    return FOREIGN_PHONE[country] + digits(rng, 9)


def device_id(rng: Random) -> str:
    """Android ID (16 hex digits) or an iOS identifierForVendor (UUID), about half each."""
    if rng.random() < 0.5:
        return f"{rng.getrandbits(64):016x}"
    h = f"{rng.getrandbits(128):032X}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def ip(rng: Random, country: str) -> str:
    blocks = IP_BLOCKS.get(country, IP_BLOCKS["NL"])
    a, b = blocks[int(rng.random() * len(blocks))]
    return f"{a}.{b}.{int(rng.random() * 256)}.{1 + int(rng.random() * 254)}"


def tron_wallet(rng: Random) -> str:
    return "T" + "".join(_B58[int(rng.random() * 58)] for _ in range(33))


def business_id(rng: Random, country: str) -> str:
    """INN (10 digits) of a Russian company or BIN (12 digits) of a Kazakh one."""
    return digits(rng, 12) if country == "KZ" else "77" + digits(rng, 8)
