"""Checksum helpers: Luhn, card brands, IBAN (ISO 13616 mod-97), SSN rules, GitHub CRC32."""

from __future__ import annotations

import zlib

# Luhn: the doubled value of each digit (2d, minus 9 when above 9)
_LUHN_DOUBLE = {str(d): (2 * d - 9 if d > 4 else 2 * d) for d in range(10)}


def luhn_ok(digits: str) -> bool:
    if digits.isascii() and digits.isdigit():  # fast path: C-level sums over the two halves
        r = digits[::-1]
        return (sum(map(int, r[0::2])) + sum(map(_LUHN_DOUBLE.__getitem__, r[1::2]))) % 10 == 0
    total = 0
    odd = True
    for ch in reversed(digits):
        d = ord(ch) - 48
        if not odd:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        odd = not odd
    return total % 10 == 0


def card_brand(d: str) -> str | None:
    """Return the brand for a digit string whose IIN and length fit a current scheme."""
    n = len(d)
    p2 = int(d[:2])
    p3 = int(d[:3])
    p4 = int(d[:4])
    p6 = int(d[:6])
    if d[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if (p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925) and 16 <= n <= 19:
        return "discover"
    if 3528 <= p4 <= 3589 and 16 <= n <= 19:
        return "jcb"
    if (300 <= p3 <= 305 or p3 == 309 or p2 in (36, 38, 39)) and 14 <= n <= 19:
        return "diners"
    if 2200 <= p4 <= 2204 and 16 <= n <= 19:
        return "mir"
    if p2 == 62 and 16 <= n <= 19:
        return "unionpay"
    if (p2 == 50 or 56 <= p2 <= 69) and 12 <= n <= 19:
        return "maestro"
    if 637 <= p3 <= 639 and n == 16:
        return "instapayment"
    return None


# ISO 13616 IBAN lengths per country (SWIFT IBAN registry).
IBAN_LENGTHS = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BI": 27,
    "BR": 29,
    "BY": 28,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DJ": 27,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FK": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IQ": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LC": 32,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "LY": 25,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MN": 20,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NI": 28,
    "NL": 18,
    "NO": 15,
    "OM": 23,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "RU": 33,
    "SA": 24,
    "SC": 31,
    "SD": 18,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "SO": 23,
    "ST": 25,
    "SV": 28,
    "TL": 23,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VA": 22,
    "VG": 24,
    "XK": 20,
    "YE": 30,
}


# A=10 ... Z=35, as digits: the rearranged IBAN becomes one decimal number
_IBAN_LETTERS = str.maketrans({chr(65 + i): str(10 + i) for i in range(26)})


def iban_mod97_ok(compact: str) -> bool:
    s = compact[4:] + compact[:4]
    if s.isascii() and s.isalnum() and (s.isdigit() or s.isupper()):  # fast path: one int()
        return int(s.translate(_IBAN_LETTERS)) % 97 == 1
    total = 0
    for ch in s:
        if ch.isdigit():
            total = (total * 10 + ord(ch) - 48) % 97
        else:
            v = ord(ch) - 55  # A=10
            if not 10 <= v <= 35:
                return False
            total = (total * 100 + v) % 97
    return total == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    a = int(area)
    if a == 0 or a == 666 or a >= 900:
        return False
    if group == "00" or serial == "0000":
        return False
    if area == group[0] * 3 or len(set(area + group + serial)) == 1:
        return False
    return area + group + serial not in ("123456789", "078051120", "219099999")


_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def github_crc_ok(token: str) -> bool:
    """GitHub classic tokens (ghp_ and friends): last 6 chars are base62(CRC32(body))."""
    _prefix, _, rest = token.partition("_")
    if len(rest) != 36:
        return False
    body, check = rest[:30], rest[30:]
    n = zlib.crc32(body.encode())
    out = []
    for _ in range(6):
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "".join(reversed(out)) == check
