"""Rule-based PII and secret detectors for chat messages (pure Python, no Django).

Every detector is a function ``(text, lower, ctx, pre=None, out=None) -> out`` that appends
its findings to the list ``out`` (a new list when None) and returns it; ``lower`` is
``text.lower()`` (same length for the scripts we handle; checked once per message), ``ctx``
the :class:`Redactor` configuration and ``pre`` the per-message :func:`prepass` (digit runs
and number windows; computed when None).

Speed: the :class:`Redactor` computes ``lower`` and the pre-pass once per message and skips
detectors whose necessary conditions fail (digit counts, "@", a TLD). Inside detectors,
digit-based patterns are scanned only inside the number windows, street addresses, IBANs,
keyword tokens and PINs are matched only at their possible start positions, and word-list
gates are single scans of prefix-factored (trie) alternations (:func:`_anyof`). These are
exact: ``tests/compliance/redaction/test_speedups.py`` checks them against whole-text scans.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import ahocorasick
import cython
import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumberType

from .checksums import IBAN_LENGTHS, card_brand, github_crc_ok, iban_mod97_ok, luhn_ok, ssn_ok
from .findings import (
    CREDIT_CARD,
    DATE_OF_BIRTH,
    EMAIL,
    IBAN,
    IP_ADDRESS,
    NATIONAL_ID,
    PERSON,
    PHONE,
    SECRET,
    STREET_ADDRESS,
    URL,
    US_SSN,
    Finding,
    resolve_overlaps,
)

_DATA = Path(__file__).with_name("data")

# ----------------------------------------------------------------------------- helpers

_HAS_DIGIT = re.compile(r"\d")
# Patterns scanned over whole texts start with a character class, not a repeat ("\d\d*", not
# "\d+") or a look-behind: only then can ``search`` / ``finditer`` skip the positions where the
# class fails in C (sre's charset prefix) instead of starting a full match attempt at each.
_DIGIT_RUNS = re.compile(r"\d\d*")
_NON_DIGITS = re.compile(r"\D+")
_TRAIL = ".,;:!?)]}>'\"*"

# A per-message pre-pass: the digit runs, grouped into "number windows" (runs at most 3
# characters apart, padded by 2 characters before and 3 after). Every digit-based pattern
# (cards, SSNs, phones, IPv4, national ids, numeric dates) only has separators of <= 3 chars
# between its digits and <= 2 leading non-digits ("(+49", "X-"), so it lies inside one window:
# scanning the windows with ``finditer(text, pos, endpos)`` finds exactly the matches of a
# whole-text scan (look-behinds still see the text before ``pos``) at a fraction of the cost.
# The pre-pass also says which context-word lists occur in the message (:func:`word_gates`).
Pre = tuple[list[tuple[int, int]], list[tuple[int, int, int]], int, int]


_span = re.Match.span
_tuple_new = tuple.__new__


def _finding(start: int, end: int, type_: str, detector: str, confidence: float) -> Finding:
    """``Finding(...)`` without the named tuple's interpreted ``__new__`` (one per finding)."""
    return _tuple_new(Finding, (start, end, type_, detector, confidence))


@cython.locals(i=cython.Py_ssize_t, n=cython.Py_ssize_t, start=cython.Py_ssize_t, c=cython.Py_UCS4)
def _digit_runs(text: str) -> list[tuple[int, int]]:
    """The (start, end) of every run of digits (re's ``\\d``, i.e. Unicode decimal digits): the
    spans of ``_DIGIT_RUNS.finditer(text)``. The compiled core walks the characters in C (on
    the corpus's chat messages the regex costs about 19k instructions a message, the walk
    5.5k); plain Python, where such a loop is slow, keeps the regex."""
    if not cython.compiled:
        return list(map(_span, _DIGIT_RUNS.finditer(text)))
    runs = []
    n = len(text)
    start = -1
    i = -1
    for c in text:  # (Cython turns this into a C loop over the code points)
        i += 1
        if c.isdecimal():  # (Py_UNICODE_ISDECIMAL: what sre tests for \d)
            if start < 0:
                start = i
        elif start >= 0:
            runs.append((start, i))
            start = -1
    if start >= 0:
        runs.append((start, n))
    return runs


def prepass(text: str, lower: str | None = None) -> Pre:
    """(digit runs, number windows (start, end, digits), most digits in one window, the word-gate
    bits (:func:`word_gates`; ``lower`` is the lower-cased text))."""
    gates = word_gates(text, text.lower() if lower is None else lower)
    runs = _digit_runs(text)
    if not runs:
        return [], [], 0, gates
    # one pass: group runs into windows, pad each and merge it into the previous when they touch
    out: list[tuple[int, int, int]] = []
    cs, ce = runs[0]
    nd = ce - cs
    for s, e in runs[1:]:
        if s - ce <= 3:
            ce = e
            nd += e - s
            continue
        ws = cs - 2 if cs > 2 else 0
        if out and ws <= out[-1][1]:
            out[-1] = (out[-1][0], ce + 3, out[-1][2] + nd)
        else:
            out.append((ws, ce + 3, nd))
        cs, ce, nd = s, e, e - s
    ws = cs - 2 if cs > 2 else 0
    if out and ws <= out[-1][1]:
        out[-1] = (out[-1][0], ce + 3, out[-1][2] + nd)
    else:
        out.append((ws, ce + 3, nd))
    return runs, out, max([w[2] for w in out]) if len(out) > 1 else out[0][2], gates


def _scan(rx: re.Pattern[str], text: str, pre: Pre, min_digits: int) -> list[re.Match[str]]:
    """``rx.finditer(text)`` restricted to the number windows with >= ``min_digits`` digits."""
    if pre[2] < min_digits:
        return []
    # search, then search on from each match's end: what finditer does for patterns that never
    # match the empty string (none scanned here can), without a scanner object per window
    found = []
    for ws, we, nd in pre[1]:
        if nd >= min_digits:
            m = rx.search(text, ws, we)
            while m is not None:
                found.append(m)
                m = rx.search(text, m.end(), we)
    return found


def _scan_any(rx: re.Pattern[str], text: str, pre: Pre, min_digits: int) -> bool:
    """``bool(_scan(rx, text, pre, min_digits))``, stopping at the first match."""
    if pre[2] < min_digits:
        return False
    for ws, we, nd in pre[1]:  # noqa: SIM110 - a plain loop is cheaper than any() over a generator
        if nd >= min_digits and rx.search(text, ws, we) is not None:
            return True
    return False


def _run_triples(
    text: str, runs: list[tuple[int, int]], seps: str, first: int, middle: int, last: int
) -> bool:
    """Whether three digit runs follow each other with one character of ``seps`` between each,
    the first at least ``first`` digits long, the middle one at most ``middle`` (and, when
    ``middle`` is negative, exactly ``-middle``) and the last at least ``last``: a loop over
    the pre-pass's runs instead of a regex scan of the text."""
    for i in range(len(runs) - 2):
        s0, e0 = runs[i]
        s1, e1 = runs[i + 1]
        if s1 != e0 + 1 or e0 - s0 < first or text[e0] not in seps:
            continue
        size = e1 - s1
        if (size > middle if middle > 0 else size != -middle) or text[e1] not in seps:
            continue
        s2, e2 = runs[i + 2]
        if s2 == e1 + 1 and e2 - s2 >= last:
            return True
    return False


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"  # (== re's Unicode \w for one character)


def _ctx_before(lower: str, start: int, n: int = 40) -> str:
    return lower[max(0, start - n) : start]


def _trie_pattern(words: Iterable[str]) -> str:
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        alts = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" in node:
            return ("(?:" + body + ")?") if len(alts) == 1 else body + "?"
        return body

    return build(trie)


def _anyof(words: Iterable[str]) -> Callable[..., re.Match[str] | None]:
    """``_anyof(words)(s) is not None`` == ``any(w in s for w in words)``, as one scan of a
    prefix-factored (trie) alternation: far cheaper than a Python loop of ``in`` tests."""
    return re.compile(_trie_pattern(words)).search


# Letters by (rough) frequency in chat text, most frequent first; any other character (upper
# case, accents, "_", "-", ":") counts as rarer than all of them. Digits, "." and space are common.
_COMMON_CHARS = " .0123456789etaoinsrhldcumwfgypbvkjxqz"


def _anyof_rare(words: Iterable[str]) -> Callable[[str], re.Match[str] | None]:
    """Like :func:`_anyof` (``f(s) is not None`` == ``any(w in s for w in words)``) for whole
    strings only (no ``pos`` argument: the look-behinds below may look before it). Each word is
    matched from its rarest character, with a look-behind for the characters before it, so every
    alternative starts with a literal and ``search`` skips the other characters in C instead of
    trying the alternation at every position."""

    def rank(c: str) -> int:
        i = _COMMON_CHARS.find(c)
        return len(_COMMON_CHARS) if i < 0 else i

    alts = []
    for w in sorted(set(words)):
        k = max(range(len(w)), key=lambda j: (rank(w[j]), -j))
        head = "(?<=" + re.escape(w[: k + 1]) + ")" if k else ""
        alts.append(re.escape(w[k]) + head + re.escape(w[k + 1 :]))
    return re.compile("|".join(alts)).search


def _any_in(s: str, words: Iterable[str]) -> bool:
    for w in words:  # noqa: SIM110 - a plain loop is cheaper than any() over a generator
        if w in s:
            return True
    return False


def _deletes(w: str) -> set[str]:
    return {w[:i] + w[i + 1 :] for i in range(len(w))}


_MEMO_MAX = 50_000


class FuzzyLexicon:
    """Membership within one edit (insert/delete/substitute/transpose-ish) of a word list,
    via the symmetric-delete trick: typo'd context words ("pasword", "nacimiennto") still hit."""

    def __init__(self, words: Iterable[str], min_fuzzy_len: int = 5):
        self.exact = frozenset(words)
        self.min = min_fuzzy_len
        dels: set[str] = set()
        for w in self.exact:
            if len(w) >= min_fuzzy_len:
                dels |= _deletes(w)
        self.dels = frozenset(dels)
        self.fuzzy_src = frozenset(w for w in self.exact if len(w) >= min_fuzzy_len)

        self._memo: dict[str, bool] = {}
        self._misses: set[str] = set()  # words known not to be members (bounded cache)

    def forget(self) -> None:
        """Empty the memos of words seen so far."""
        self._memo.clear()
        self._misses.clear()

    def any_member(self, words: Iterable[str]) -> bool:
        """Whether one of ``words`` is a member: set operations first, per-word checks only
        for words not seen before."""
        rest = set(words)
        if not rest.isdisjoint(self.exact):
            return True
        rest -= self._misses
        for w in rest:
            if len(w) >= 2 and w in self:
                return True
        if len(self._misses) >= _MEMO_MAX:
            self._misses.clear()
        self._misses |= rest
        return False

    def __contains__(self, w: str) -> bool:
        if w in self.exact:
            return True
        if len(w) < self.min - 1:
            return False
        hit = self._memo.get(w)
        if hit is None:
            hit = self._fuzzy(w)
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()  # bounded: long-running workers see an open vocabulary
            self._memo[w] = hit
        return hit

    def _fuzzy(self, w: str) -> bool:
        if w in self.dels:
            return True  # one insertion typo ("passwoord" -> ... ) or deletion
        if len(w) >= self.min:
            for d in _deletes(w):
                if d in self.fuzzy_src or d in self.dels:
                    return True
        return False


# ----------------------------------------------------------------------------- EMAIL

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)


def detect_email(text, lower, ctx, pre=None, out=None):
    if out is None:
        out = []
    if "@" not in text:
        return out
    for m in _EMAIL.finditer(text):
        out.append(_finding(m.start(), m.end(), EMAIL, "email", 0.99))
    return out


# ----------------------------------------------------------------------------- URL

_TLDS = (
    "com|org|net|edu|gov|io|co|me|app|dev|ly|gl|be|to|tv|fm|ai|so|sh|xyz|info|biz|page|site|"
    "online|store|shop|blog|link|cloud|tech|art|de|fr|es|pt|br|uk|us|it|nl|ch|at|eu|ca|au|in|"
    "jp|cn|ru|pl|se|no|dk|fi|ie|mx|ar|cl|ly|gg|cc|ms|is|im|ws"
)
_URL = re.compile(
    r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"'`]+"
    r"|(?<![@\w.-])(?:[a-z0-9](?:[a-z0-9-]{0,62})\.)+(?:" + _TLDS + r")(?:/[^\s<>\"'`]*)?(?![\w@-])",
    re.IGNORECASE,
)
_URL_SECRET_PARAM = re.compile(
    r"[?&#](?:access_token|token|api_?key|apikey|key|secret|client_secret|password|pwd|pass|"
    r"sig|signature|auth|session|sessionid|jwt|code|x-amz-signature|x-amz-credential)=([^&#\s]{6,})",
    re.IGNORECASE,
)
_FILE_EXT_TLD = re.compile(r"\.(?:py|js|ts|md|txt|png|jpg|pdf|zip|exe|json|yaml|yml|csv)$", re.I)


def _strip_url_tail(text: str, s: int, e: int) -> int:
    while e > s and (text[e - 1] in _TRAIL or not text[e - 1].isascii()):
        # keep a closing paren when the URL has an opening one
        if text[e - 1] == ")" and "(" in text[s : e - 1]:
            break
        e -= 1
    return e


_URL_IP_HOST = re.compile(r"[a-z]+://(\[?[0-9a-f:.]+?\]?)(?::\d{1,5})?(?:/|$)")


def _ip_ok(v: str) -> bool:
    try:
        ipaddress.ip_address(v)
        return True
    except ValueError:
        return False


# Every URL match lies inside one whitespace-free token ([^\s...] paths, no spaces in hosts) and
# holds "://", "www." or a ".tld" not followed by [\w@-] (case-insensitively, as _URL matches):
# scanning only the tokens holding one of those finds exactly the matches of a whole-text scan.
_URL_TLD_HIT = re.compile(r"\.(?:" + _TLDS + r")(?![\w@-])", re.IGNORECASE)
_TOKEN_REST = re.compile(r"\S*")


def _url_tokens(text: str, lower: str) -> list[tuple[int, int]]:
    """Sorted, disjoint (start, end) of the whitespace-free tokens that can hold a URL match."""
    hits = [m.start() for m in _URL_TLD_HIT.finditer(text)]
    for needle in ("://", "www."):
        i = lower.find(needle)
        while i >= 0:
            hits.append(i)
            i = lower.find(needle, i + 1)
    if not hits:
        return []
    hits.sort()
    toks: list[tuple[int, int]] = []
    for h in hits:
        if toks and h < toks[-1][1]:
            continue
        head = text[:h]
        a = h - len(head.rsplit(None, 1)[-1]) if head and not head[-1].isspace() else h
        b = _TOKEN_REST.match(text, h).end()  # type: ignore[union-attr]
        toks.append((a, b))
    return toks


def detect_url(text, lower, ctx, pre=None, out=None):
    if out is None:
        out = []
    if "." not in text:
        return out
    for m in (m for a, b in _url_tokens(text, lower) for m in _URL.finditer(text, a, b)):
        s, e = m.start(), _strip_url_tail(text, m.start(), m.end())
        val = lower[s:e]
        if not (val.startswith(("http", "ftp", "www."))):
            # bare domain: need a path or a non-trivial host; skip file names and versions
            if _FILE_EXT_TLD.search(val) or val.count(".") < 1:
                continue
            host = val.split("/", 1)[0]
            if "/" not in val and len(host) < 6:
                continue
        hm = _URL_IP_HOST.match(val)
        if hm:
            hs = s + hm.start(1)
            he = s + hm.end(1)
            host = val[hm.start(1) : hm.end(1)]
            if _ip_ok(host.strip("[]")) and hm.end() >= len(val.rstrip("/")):
                out.append(_finding(hs, he, IP_ADDRESS, "ip_in_url", 0.95))
                continue
        det = "url"
        if ("=" in val) and _URL_SECRET_PARAM.search(val):
            det = "url_secret_token"  # flag: a credential travels in the query string
        out.append(_finding(s, e, URL, det, 0.95))
    return out


# ----------------------------------------------------------------------------- IP

_IPV4 = re.compile(r"(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?:%[\w.]+)?(?![\w:])", re.IGNORECASE)
_VERSION_WORDS = (
    "version",
    "versão",
    "versión",
    "v.",
    "ver.",
    "ver ",
    "build",
    "update",
    "updated",
    "upgrade",
    "ios",
    "android",
    "release",
    "firmware",
    "patch",
    "auf ",
    "update auf",
    "pra ",
    "para ",
    "to ",
    "actualicé",
    "atualizei",
    "mise à jour",
    "jour",
    "installed",
    "install",
    "rev",
    "node",
    "python",
    "chrome",
    "macos",
    "windows",
    "app ",
    "sdk",
    "kernel",
    "npm",
    "pip",
)
_IP_WORDS = (
    "ip",
    "server",
    "host",
    "ping",
    "router",
    "ssh",
    "address",
    "adresse",
    "dirección",
    "endereço",
    "blocked",
    "gateway",
    "dns",
    "vpn",
    "proxy",
    "lives on",
    "192.",
    "10.",
    "172.",
)
_IP_ANY = _anyof(_IP_WORDS)
_VERSION_TAIL = re.compile(
    r"(?:version|versão|versión|ios|android|build|v|ver|release|firmware|update|upgrade|updated|"
    r"actualicé a|atualizei pra|atualizei para|mise à jour|update auf|update to|updated to|"
    r"upgrade to|install|installed|patch|rev)\s*:?\s*$"
)


def detect_ip(text, lower, ctx, pre=None, out=None):
    if out is None:
        out = []
    if text.count(".") >= 3:  # (an IPv4 address holds three dots)
        for m in _scan(_IPV4, text, pre or prepass(text, lower), 4):
            if any(int(g) > 255 for g in m.groups()):
                continue
            if any(len(g) > 1 and g[0] == "0" for g in m.groups()):
                continue
            s = m.start()
            before = _ctx_before(lower, s, 24)
            if s > 0 and lower[s - 1] == "v":
                continue
            tail = before.rstrip()
            if tail.endswith(_VERSION_WORDS) or _VERSION_TAIL.search(before):
                continue
            ip_ctx = _IP_ANY(before) is not None
            first = int(m.group(1))
            if first == 0:
                continue
            conf = 0.95 if ip_ctx else 0.8
            out.append(_finding(s, m.end(), IP_ADDRESS, "ipv4", conf))
    if (":" in text and "::" in text) or text.count(":") >= 5:
        for m in _IPV6.finditer(text):
            val = m.group(0)
            core = val.split("%", 1)[0]
            if core.count(":") < 2 or ("::" not in core and core.count(":") != 7):
                continue
            if not any(c.isalpha() for c in core) and "::" not in core:
                continue
            try:
                ipaddress.IPv6Address(core)
            except ValueError:
                continue
            if len(core.replace(":", "")) < 4:
                continue
            out.append(_finding(m.start(), m.end(), IP_ADDRESS, "ipv6", 0.95))
    return out


# ----------------------------------------------------------------------------- CREDIT CARD

# 12-19 digits, optionally grouped by single spaces or dashes (consistent separator).
_CARD = re.compile(r"(?<![\w.,/-])\d(?:[ -]?\d){11,18}(?![\w]|[.,/-]\d)")
_CARD_NEG = (
    "order",
    "tracking",
    "track",
    "booking",
    "voucher",
    "ref",
    "invoice",
    "commande",
    "suivi",
    "bestell",
    "sendung",
    "pedido",
    "seguimiento",
    "rastreio",
    "gift",
    "coupon",
    "promo",
    "confirmation",
    "reservation",
    "reserva",
    "ticket",
    "imei",
    "serial",
    "account no",
    "numéro de suivi",
    "referen",
)
_CARD_POS = (
    "card",
    "visa",
    "mastercard",
    "amex",
    "credit",
    "debit",
    "karte",
    "carte",
    "tarjeta",
    "cartão",
    "cartao",
    "cc ",
    "exp",
    "cvv",
    "cvc",
)
_CARD_NEG_ANY = _anyof(_CARD_NEG)
_CARD_SEP = re.compile(r"[ -]")
_CARD_POS_ANY = _anyof(_CARD_POS)


def detect_card(text, lower, ctx, pre=None, out=None):
    if out is None:
        out = []
    for m in _scan(_CARD, text, pre or prepass(text, lower), 12):
        raw = m.group(0)
        # (_CARD matches digits joined by " " or "-": those are its only non-digits)
        seps = " " in raw, "-" in raw
        if all(seps):
            continue
        digits = raw.replace(" ", "").replace("-", "")
        n = len(digits)
        if n < 12 or n > 19 or not luhn_ok(digits):
            continue
        brand = card_brand(digits)
        if brand is None:
            continue
        if any(seps):
            groups = [len(g) for g in _CARD_SEP.split(raw)]
            if max(groups) > 8 or (len(groups) > 1 and min(groups[:-1]) < 3):
                continue
        before = _ctx_before(lower, m.start(), 40)
        if _CARD_NEG_ANY(before) is not None and _CARD_POS_ANY(before, len(before) - 20) is None:
            continue
        if brand == "maestro" and _CARD_POS_ANY(before) is None:
            continue
        if n < 15 and _CARD_POS_ANY(before) is None:
            continue
        out.append(_finding(m.start(), m.end(), CREDIT_CARD, "card_" + brand, 0.97))
    return out


# ----------------------------------------------------------------------------- IBAN

_IBAN = re.compile(r"(?<![\w])([A-Za-z]{2}\d{2})((?:[ ]?[A-Za-z0-9]){8,32})")


def _iban_candidates(text: str, pre: Pre) -> Iterator[re.Match[str]]:
    """``_IBAN.finditer(text)``: a match starts two letters before a run of >= 2 digits."""
    last = -1
    for s, e in pre[0]:
        if e - s < 2 or s < 2 or s - 2 < last or not text[s - 1].isalpha():
            continue  # (only a letter upper-cases to a country code's A-Z)
        if text[s - 2 : s].upper() not in IBAN_LENGTHS:
            continue  # (a country code that is not an IBAN country never validates)
        m = _IBAN.match(text, s - 2)
        if m is not None:
            last = m.end()
            yield m


# The country's length of alphanumerics after "CCdd", single spaces allowed between them: the
# character walk (skip one space, stop at two or at anything not ASCII-alphanumeric) as a regex.
_IBAN_BODY: dict[int, re.Pattern[str]] = {}


def detect_iban(text, lower, ctx, pre=None, out=None):
    if out is None:
        out = []
    for m in _iban_candidates(text, pre or prepass(text, lower)):
        cc = m.group(1)[:2].upper()
        length = IBAN_LENGTHS.get(cc)
        if length is None:
            continue
        # walk the characters until we have the country's length
        need = length - 4
        s = m.start()
        body = _IBAN_BODY.get(need)
        if body is None:
            body = _IBAN_BODY[need] = re.compile(rf"(?: ?[A-Za-z0-9]){{{need}}}")
        bm = body.match(text, m.start(2))
        if bm is None:
            continue
        end = bm.end()
        if end < len(text) and text[end].isalnum() and text[end - 1] != " ":
            continue  # glued to more characters: not this IBAN
        compact = (m.group(1) + bm.group(0).replace(" ", "")).upper()
        if not compact[2:4].isdigit() or not iban_mod97_ok(compact):
            continue
        out.append(_finding(s, end, IBAN, "iban_mod97", 0.99))
    return out


# ----------------------------------------------------------------------------- US SSN

_SSN = re.compile(r"(?<![\w.+-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w]|[.,/-]\d)")
_SSN_CTX = (
    "ssn",
    "social security",
    "social sec",
    "soc sec",
    "ss#",
    "ss #",
    "ssa",
    "seguro social",
    "sécurité sociale",
    "tin",
    "itin",
)
_SSN_ANY = _anyof(_SSN_CTX)


def detect_ssn(text, lower, ctx, pre=None, out=None):
    if out is None:
        out = []
    for m in _scan(_SSN, text, pre or prepass(text, lower), 9):
        area, sep, group, serial = m.groups()
        if not ssn_ok(area, group, serial):
            continue
        before = _ctx_before(lower, m.start(), 40)
        has_ctx = _SSN_ANY(before) is not None
        if sep != "-" and not has_ctx:
            continue
        if _CARD_NEG_ANY(before, len(before) - 16) is not None or (
            not has_ctx and _CARD_NEG_ANY(before) is not None
        ):
            continue
        out.append(_finding(m.start(), m.end(), US_SSN, "us_ssn", 0.95 if has_ctx else 0.75))
    return out


# ----------------------------------------------------------------------------- NATIONAL IDS


def _stdnum_validators():
    from stdnum.br import cpf
    from stdnum.de import idnr
    from stdnum.es import dni, nie
    from stdnum.fr import nir
    from stdnum.it import codicefiscale
    from stdnum.nl import bsn
    from stdnum.pl import pesel
    from stdnum.pt import nif

    return {
        "br.cpf": cpf,
        "de.idnr": idnr,
        "es.dni": dni,
        "es.nie": nie,
        "fr.nir": nir,
        "it.codicefiscale": codicefiscale,
        "nl.bsn": bsn,
        "pl.pesel": pesel,
        "pt.nif": nif,
    }


_VALIDATORS = None
# (regex, validators, context words or None when the format alone is distinctive)
_NID_RULES = [
    (re.compile(r"(?<![\w.-])\d{3}\.\d{3}\.\d{3}-\d{2}(?![\w]|[.-]\d)"), ("br.cpf",), None),
    (
        re.compile(r"(?<![\w.-])\d{11}(?![\w])"),
        ("br.cpf", "de.idnr", "pl.pesel"),
        ("cpf", "steuer-id", "steuerid", "steuer id", "identifikationsnummer", "idnr", "pesel", "tax id"),
    ),
    (
        re.compile(r"(?<![\w.-])\d{2} ?\d{3} ?\d{3} ?\d{3}(?![\w])"),
        ("de.idnr",),
        ("steuer-id", "steuerid", "steuer id", "identifikationsnummer", "idnr", "tax id"),
    ),
    (re.compile(r"(?<![\w.-])\d{8}-?[A-Za-z](?![\w])"), ("es.dni",), ("dni", "nif", "documento")),
    (re.compile(r"(?<![\w.-])[XYZxyz]-?\d{7}-?[A-Za-z](?![\w])"), ("es.nie",), ("nie", "extranjero")),
    (
        re.compile(r"(?<![\w.-])[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?![\w])"),
        ("fr.nir",),
        ("sécu", "secu", "nir", "sécurité sociale", "securite sociale", "insee", "carte vitale"),
    ),
    (
        re.compile(r"(?<![\w.-])\d{9}(?![\w])"),
        ("nl.bsn", "pt.nif"),
        ("bsn", "burgerservicenummer", "nif", "contribuinte", "sofinummer"),
    ),
    (
        re.compile(r"(?<![\w])[A-Za-z]{6}\d{2}[A-Za-z]\d{2}[A-Za-z]\d{3}[A-Za-z](?![\w])"),
        ("it.codicefiscale",),
        None,
    ),
]


_NID_ALL_WORDS = tuple(sorted({w for _rx, _n, ws in _NID_RULES if ws for w in ws}))
_NID_WORDS_ANY = {ws: _anyof(ws) for _rx, _n, ws in _NID_RULES if ws}
_NID_CF_GATE = re.compile(r"\d\d[A-Za-z]\d\d[A-Za-z]\d\d\d")  # (the runs form below is used)
_ASCII_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _nid_cf_possible(text: str, runs: list[tuple[int, int]]) -> bool:
    """``_NID_CF_GATE.search(text) is not None``: runs of >= 2, exactly 2 and >= 3 digits,
    each pair one ASCII letter apart."""
    return _run_triples(text, runs, _ASCII_LETTERS, 2, -2, 3)


def _nid_valid(name: str, val: str) -> bool:
    assert _VALIDATORS is not None
    try:
        return bool(_VALIDATORS[name].is_valid(val))
    except Exception:  # a validator must never break detection
        return False


def detect_national_id(text, lower, ctx, pre=None, out=None):
    if out is None:
        out = []
    global _VALIDATORS
    if pre is None:
        pre = prepass(text, lower)
    any_ctx = (pre[3] & _G_NID) != 0
    # (the gate's digits are runs one letter apart: one number window holds a match)
    if not any_ctx and not _nid_cf_possible(text, pre[0]):
        return out
    if _VALIDATORS is None:
        _VALIDATORS = _stdnum_validators()
    for rx, names, words in _NID_RULES:
        if words is None:
            matches: Iterable[re.Match[str]] = rx.finditer(text)  # letters and digits: whole text
        elif not any_ctx or _NID_WORDS_ANY[words](lower) is None:
            continue
        else:
            matches = _scan(rx, text, pre, 7)
        for m in matches:
            if words is not None and _NID_WORDS_ANY[words](lower, max(0, m.start() - 40), m.start()) is None:
                continue
            val = m.group(0)
            for name in names:
                if _nid_valid(name, val):
                    out.append(_finding(m.start(), m.end(), NATIONAL_ID, "stdnum_" + name, 0.9))
                    break
    return out


# ----------------------------------------------------------------------------- PHONE

_PHONE = re.compile(
    r"(?<![\w+/.:-])(?:\+|00)?(?:\(\+?\d{1,4}\)|\d)(?:[ .\-/]{0,2}(?:\(0\)|\(\d{1,5}\)|\d)){6,19}(?![\w]|[.,]\d|-\d)"
)
_PHONE_CTX = (
    "call",
    "phone",
    "tel",
    "cell",
    "mobile",
    "mob",
    "number",
    "num",
    "nr",
    "whatsapp",
    "text ",
    "sms",
    "reach",
    "ring",
    "dial",
    "handy",
    "nummer",
    "ruf",
    "anruf",
    "erreich",
    "appel",
    "numéro",
    "portable",
    "llám",
    "llama",
    "móvil",
    "movil",
    "número",
    "telefone",
    "liga",
    "zap",
    "contact",
    "line",
    "fax",
    "signal",
    "telegram",
)
_PHONE_ANY = _anyof(_PHONE_CTX)
# the only non-digits a _PHONE match can hold
_PHONE_PUNCT = str.maketrans("", "", "+() .-/")
_DATEISH = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")
_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}\s")
_IBAN_HEAD = re.compile(r"[A-Za-z]{2}\d{2}[ ]?[A-Za-z0-9]{4}[ ]$")
_MOBILE_LIKE = {
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.UAN,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PAGER,
}
# Regions whose nationally written numbers (almost) always keep the trunk "0".
_TRUNK_ZERO = {
    "DE",
    "AT",
    "CH",
    "FR",
    "GB",
    "NL",
    "BE",
    "IE",
    "SE",
    "NO",
    "FI",
    "DK",
    "PL",
    "AU",
    "NZ",
    "ZA",
    "JP",
    "KR",
    "TR",
    "IL",
    "RU",
    "UA",
    "CZ",
    "SK",
    "HU",
    "RO",
    "GR",
}


# The number types of _MOBILE_LIKE: a valid number of one of them matches that type's pattern.
_MOBILE_LIKE_DESCS = ("fixed_line", "mobile", "voip", "personal_number", "pager", "uan", "toll_free")
_RegionFilter = tuple["_PhoneMeta", tuple, re.Pattern[str] | None, frozenset[int]]
_REGION_FILTERS: dict[str, _RegionFilter | None] = {}


def _region_filter(region: str) -> _RegionFilter | None:
    """(the region's compiled metadata, the metadata that may strip a national prefix, one
    pattern for every mobile-like number of its country code, and their possible lengths)."""
    if region in _REGION_FILTERS:
        return _REGION_FILTERS[region]
    home = _meta_for_region(region)
    found = None
    if home is not None and home.idd is not None:
        cc = home.cc
        patterns = []
        lengths: set[int] | None = set()
        for r in COUNTRY_CODE_TO_REGION_CODE.get(cc, ()):
            m = PhoneMetadata.metadata_for_region(r)
            for name in _MOBILE_LIKE_DESCS if m is not None else ():
                desc = getattr(m, name)
                if desc is None or not desc.national_number_pattern or -1 in desc.possible_length:
                    continue  # (-1: the region has no numbers of this type)
                patterns.append("(?:" + desc.national_number_pattern + ")")
                if not desc.possible_length:
                    lengths = None  # no length rule: any length may match the pattern
                elif lengths is not None:
                    lengths.update(desc.possible_length)
        strippers = tuple({id(x): x for x in (home, _main_meta(cc)) if x is not None}.values())
        mobile_like = re.compile("|".join(patterns)) if patterns else None
        found = (
            home,
            strippers,
            mobile_like,
            frozenset(range(20)) if lengths is None else frozenset(lengths),
        )
    _REGION_FILTERS[region] = found
    return found


def _phone_possible(digits: str, region: str) -> bool:
    """A necessary condition of ``_phone_valid(digits, region)`` for nationally written digits,
    about 20 times cheaper: phonenumbers' parse is pure Python and most digit runs in chat
    (order numbers, amounts, ids) are not phone numbers of a given region.

    Unless the digits start with the region's international prefix (then any country may
    follow: no filter), parsing keeps the region's country code, and the national number it
    validates is the digits with, optionally, the country code and then national prefixes
    stripped (by the region's or the country code's main region's rules). A valid mobile-like
    number has one of its type's possible lengths and fully matches one of its country code's
    mobile-like type patterns, so if no such
    strip of the digits does, parsing cannot yield one. (Exactness is tested against
    phonenumbers on random digits and every region's example numbers.)"""
    found = _region_filter(region)
    if found is None:
        return True
    home, strippers, mobile_like, lengths = found
    if home.idd.match(digits) is not None:  # type: ignore[union-attr]
        return True
    if mobile_like is None:
        return False
    cc = home.cc_str
    todo = [digits, digits[len(cc) :]] if digits.startswith(cc) else [digits]
    seen: set[str] = set()
    while todo:
        number = todo.pop()
        if number in seen:
            continue
        seen.add(number)
        if len(number) in lengths and mobile_like.fullmatch(number) is not None:
            return True
        for meta in strippers:
            stripped = _strip_np(number, meta)
            if stripped != number:
                todo.append(stripped)
    return False


# ------------------------------------------------ phone validation from phonenumbers' metadata
#
# ``phonenumbers.parse`` + ``number_type`` cost about 22 µs a call in pure Python, most of it in
# steps that do nothing for the strings we pass (bare digits, or "+" and digits: no letters,
# extensions, RFC 3966 parts or Unicode digits) and in recompiling-by-lookup each metadata
# pattern. The functions below take the same decisions, in the same order, from the same
# metadata, with the patterns compiled once: about 5 times cheaper. They are exact, not an
# approximation: ``tests/compliance/redaction/test_phone_metadata.py`` compares them with
# phonenumbers on random digits of every supported region and on every example number.

# A number description: (possible lengths or None for "any", full-match of its pattern) or None
# when the description is missing or has no pattern (it then matches nothing).
_Desc = tuple[frozenset[int] | None, Callable[[str], re.Match[str] | None]] | None
_NOT_MOBILE_LIKE_TYPES = ("premium_rate", "shared_cost", "voicemail")
# _number_type_helper's order of the types checked before fixed line and mobile
_TYPE_ORDER = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


class _PhoneMeta:
    """One region's (or non-geographic country code's) metadata, compiled once."""

    __slots__ = (
        "cc",
        "cc_str",
        "fixed",
        "general",
        "general_full",
        "idd",
        "leading",
        "lengths",
        "local_lengths",
        "mobile",
        "np_rule",
        "np_rx",
        "ordered",
        "same_mobile_fixed",
    )

    def __init__(self, meta) -> None:
        self.cc: int = meta.country_code
        self.cc_str = str(meta.country_code)
        idd = meta.international_prefix  # (phonenumbers: None means a pattern that never matches)
        self.idd = re.compile(idd) if idd is not None else None
        npp = meta.national_prefix_for_parsing
        self.np_rx = re.compile(npp) if npp else None
        self.np_rule = meta.national_prefix_transform_rule
        g = meta.general_desc
        pattern = g.national_number_pattern if g is not None else None
        self.general_full = re.compile(pattern).fullmatch if pattern else None  # (pattern only)
        self.general = _desc(g)
        self.lengths = tuple(g.possible_length) if g is not None else None
        self.local_lengths = tuple(g.possible_length_local_only) if g is not None else ()
        described = ((_desc(getattr(meta, t)), t not in _NOT_MOBILE_LIKE_TYPES) for t in _TYPE_ORDER)
        self.ordered = tuple((d, verdict) for d, verdict in described if d is not None)
        self.fixed = _desc(meta.fixed_line)
        self.mobile = _desc(meta.mobile)
        self.same_mobile_fixed = bool(meta.same_mobile_and_fixed_line_pattern)
        self.leading = re.compile(meta.leading_digits).match if meta.leading_digits is not None else None


def _desc(d) -> _Desc:
    if d is None or not d.national_number_pattern:
        return None
    return (frozenset(d.possible_length) or None, re.compile(d.national_number_pattern).fullmatch)


def _desc_matches(d: _Desc, nsn: str) -> bool:
    if d is None:
        return False
    lengths, full = d
    return (lengths is None or len(nsn) in lengths) and full(nsn) is not None


_PHONE_METAS: dict[str, _PhoneMeta | None] = {}
_NONGEO_METAS: dict[int, _PhoneMeta | None] = {}


def _meta_for_region(region: str) -> _PhoneMeta | None:
    if region not in _PHONE_METAS:
        meta = PhoneMetadata.metadata_for_region(region)
        _PHONE_METAS[region] = _PhoneMeta(meta) if meta is not None else None
    return _PHONE_METAS[region]


def _meta_for_cc(cc: int, region: str | None) -> _PhoneMeta | None:
    """``PhoneMetadata.metadata_for_region_or_calling_code``, compiled."""
    if region == "001":
        if cc not in _NONGEO_METAS:
            meta = PhoneMetadata.metadata_for_nongeo_region(cc)
            _NONGEO_METAS[cc] = _PhoneMeta(meta) if meta is not None else None
        return _NONGEO_METAS[cc]
    return _meta_for_region(region) if region is not None else None


def _main_meta(cc: int) -> _PhoneMeta | None:
    """The metadata parse uses for a number whose country code it read: the code's main region's."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(cc)
    return _meta_for_cc(cc, regions[0] if regions else "ZZ")


def _strip_np(number: str, m: _PhoneMeta) -> str:
    """``_maybe_strip_national_prefix_carrier_code(number, metadata)[1]``."""
    rx = m.np_rx
    if not number or rx is None:
        return number
    pm = rx.match(number)
    if pm is None:
        return number
    gen = m.general_full
    viable = gen is not None and gen(number) is not None
    rule = m.np_rule
    groups = pm.groups()
    if not rule or groups[len(groups) - 1] is None:
        rest = number[pm.end() :]
        if viable and (gen is None or gen(rest) is None):
            return number
        return rest
    transformed = rx.sub(rule, number, count=1)
    if viable and (gen is None or gen(transformed) is None):
        return number
    return transformed


_TOO_SHORT, _POSSIBLE, _LOCAL_ONLY, _TOO_LONG, _INVALID_LENGTH = range(5)


def _length_result(number: str, m: _PhoneMeta) -> int:
    """``_test_number_length(number, metadata)`` (the general description's lengths)."""
    possible = m.lengths
    if possible is None:
        return _INVALID_LENGTH
    n = len(number)
    if n in m.local_lengths:
        return _LOCAL_ONLY
    if possible[0] == n:
        return _POSSIBLE
    if possible[0] > n:
        return _TOO_SHORT
    if possible[-1] < n:
        return _TOO_LONG
    return _POSSIBLE if n in possible[1:] else _INVALID_LENGTH


def _type_verdict(nsn: str, m: _PhoneMeta) -> bool | None:
    """``_number_type_helper``: None for UNKNOWN, else whether the type is mobile-like."""
    if not _desc_matches(m.general, nsn):
        return None
    for d, verdict in m.ordered:
        if _desc_matches(d, nsn):
            return verdict
    if _desc_matches(m.fixed, nsn):
        return True  # FIXED_LINE or FIXED_LINE_OR_MOBILE
    if not m.same_mobile_fixed and _desc_matches(m.mobile, nsn):
        return True
    return None


def _mobile_like(nsn: str, cc: int) -> bool:
    """``number_type(number) in _MOBILE_LIKE`` for a parsed number (country code, national
    significant number)."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(cc)
    if regions is None:
        return False
    region: str | None = None
    if len(regions) == 1:
        region = regions[0]
    else:  # _region_code_for_number_from_list
        for rc in regions:
            m = _meta_for_region(rc.upper())
            if m is None:
                continue
            if m.leading is not None:
                if m.leading(nsn) is not None:
                    region = rc
                    break
            elif _type_verdict(nsn, m) is not None:
                region = rc
                break
    m = _meta_for_cc(cc, region)
    return m is not None and _type_verdict(nsn, m) is True


def _country_code_of(number: str) -> tuple[int, str]:
    """``_extract_country_code``: (country code or 0, the rest)."""
    if not number or number[0] == "0":
        return 0, number
    for i in range(1, min(len(number), 3) + 1):
        cc = int(number[:i])
        if cc in COUNTRY_CODE_TO_REGION_CODE:
            return cc, number[i:]
    return 0, number


def _phone_parse(number: str, region: str | None) -> tuple[int, str] | None:
    """``phonenumbers.parse(number, region)`` for ``number`` = ASCII digits (region given) or
    "+" and ASCII digits: (country code, national significant number), or None where parse
    raises."""
    if number[:1] == "+":
        full = number[1:]
        if len(full) <= 2:
            return None  # TOO_SHORT_AFTER_IDD (or not viable)
        cc, nn = _country_code_of(full)
        if cc == 0:
            return None  # INVALID_COUNTRY_CODE, also after the retry without the "+"
        meta = _main_meta(cc)
    else:
        home = _meta_for_region(region) if region is not None else None
        if home is None:
            return None  # no valid region and no "+"
        meta = home
        cc, nn = 0, number
        stripped = False
        idd = home.idd.match(number) if home.idd is not None else None
        if idd is not None:
            rest = number[idd.end() :]
            if rest[:1] != "0":  # an IDD followed by "0" is not taken as one
                stripped = True
                if len(rest) <= 2:
                    return None
                cc, nn = _country_code_of(rest)
                if cc == 0:
                    return None
                meta = _main_meta(cc)
        if not stripped:
            cc = home.cc
            if number.startswith(home.cc_str):
                potential = _strip_np(number[len(home.cc_str) :], home)
                gen = home.general_full
                if (gen is not None and gen(number) is None and gen(potential) is not None) or _length_result(
                    number, home
                ) == _TOO_LONG:
                    nn = potential
                    meta = _main_meta(cc)
    if len(nn) < 2:
        return None
    if meta is not None:
        potential = _strip_np(nn, meta)
        if _length_result(potential, meta) not in (_TOO_SHORT, _LOCAL_ONLY, _INVALID_LENGTH):
            nn = potential
    if len(nn) < 2 or len(nn) > 17:
        return None
    return cc, nn


@lru_cache(maxsize=4096)
def _phone_valid(digits_plus: str, region: str | None) -> bool:
    """Whether phonenumbers parses ``digits_plus`` (digits, or "+" and digits) in ``region`` to
    a valid number of a mobile-like type. (number_type() is UNKNOWN, not mobile-like, exactly
    when is_valid_number() is False: both run the same type match on the number's region.)"""
    parsed = _phone_parse(digits_plus, region)
    return parsed is not None and _mobile_like(parsed[1], parsed[0])


def _phone_valid_by_phonenumbers(digits_plus: str, region: str | None) -> bool:
    """The reference :func:`_phone_valid` reimplements (tests compare the two)."""
    try:
        num = phonenumbers.parse(digits_plus, region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(num) in _MOBILE_LIKE


def detect_phone(text, lower, ctx, pre=None, out=None):
    if out is None:
        out = []
    for m in _scan(_PHONE, text, pre or prepass(text, lower), 7):
        raw = m.group(0)
        s, e = m.start(), m.end()
        # trim trailing separators
        while e > s and text[e - 1] in " .-/":
            e -= 1
        raw = text[s:e]
        digits = raw.translate(_PHONE_PUNCT)  # (== _NON_DIGITS.sub("", raw): the rest are \d)
        nd = len(digits)
        if nd < 7 or nd > 15:
            continue
        if _DATEISH.match(raw) or ":" in raw or _DATE_PREFIX.match(raw) or text[e : e + 1] == ":":
            continue
        if _IBAN_HEAD.search(text, max(0, s - 12), s):
            continue
        before = _ctx_before(lower, s, 40)
        has_ctx = _PHONE_ANY(before) is not None
        if not has_ctx and _CARD_NEG_ANY(before) is not None:
            continue
        intl = raw.startswith("+") or raw.startswith("00")
        ok = False
        if intl:
            d = digits[2:] if raw.startswith("00") else digits
            ok = _phone_valid("+" + d, None)
        else:
            compact = raw.isdigit()
            if compact and nd == 10 and digits[0] == "1" and not has_ctx:
                continue  # epoch timestamps
            if compact and nd <= 8 and not has_ctx:
                continue
            for region in ctx.phone_regions:
                if region in _TRUNK_ZERO and digits[0] != "0":
                    continue
                if _phone_possible(digits, region) and _phone_valid(digits, region):
                    ok = True
                    break
        if not ok:
            continue
        out.append(_finding(s, e, PHONE, "phonenumbers", 0.95 if has_ctx else 0.85))
    return out


# ----------------------------------------------------------------------------- SECRETS

_VENDOR = [
    (
        "aws_access_key",
        re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])"),
    ),
    ("github_token", re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36}(?![A-Za-z0-9])")),
    ("github_fine_grained", re.compile(r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{50,255}(?![A-Za-z0-9_])")),
    ("gitlab_token", re.compile(r"(?<![A-Za-z0-9_])gl(?:pat|dt|ptt|rt)-[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])")),
    ("slack_token", re.compile(r"(?<![A-Za-z0-9])xox[abposre]-[A-Za-z0-9-]{10,}(?![A-Za-z0-9-])")),
    ("slack_app_token", re.compile(r"(?<![A-Za-z0-9])xapp-\d-[A-Za-z0-9-]{10,}")),
    ("slack_webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}")),
    ("stripe_key", re.compile(r"(?<![A-Za-z0-9])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}(?![A-Za-z0-9])")),
    ("google_api_key", re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{30,40}(?![A-Za-z0-9_-])")),
    (
        "openai_key",
        re.compile(r"(?<![A-Za-z0-9])sk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])"),
    ),
    (
        "jwt",
        re.compile(
            r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?![A-Za-z0-9_-])"
        ),
    ),
    (
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)"
        ),
    ),
    ("telegram_bot", re.compile(r"(?<![\w:])\d{8,10}:AA[A-Za-z0-9_-]{30,40}(?![A-Za-z0-9_-])")),
    (
        "sendgrid",
        re.compile(r"(?<![A-Za-z0-9])SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,50}(?![A-Za-z0-9_-])"),
    ),
    ("twilio", re.compile(r"(?<![A-Za-z0-9])(?:SK|AC)[0-9a-fA-F]{32}(?![A-Za-z0-9])")),
    ("npm_token", re.compile(r"(?<![A-Za-z0-9])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])")),
    ("pypi_token", re.compile(r"(?<![A-Za-z0-9])pypi-AgE[A-Za-z0-9_-]{50,}")),
    ("mailchimp", re.compile(r"(?<![A-Za-z0-9])[0-9a-f]{32}-us\d{1,2}(?![A-Za-z0-9])")),
    ("discord_webhook", re.compile(r"https://discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]{20,}")),
    ("basic_auth_url", re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]{1,64}:([^\s:/@]{3,64})@[^\s/]+", re.I)),
]
_VENDOR_GATE = {
    "aws_access_key": ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    "github_fine_grained": ("github_pat_",),
    "gitlab_token": ("glpat-", "gldt-", "glptt-", "glrt-"),
    "slack_token": ("xox",),
    "slack_app_token": ("xapp-",),
    "slack_webhook": ("hooks.slack",),
    "stripe_key": ("_live_", "_test_"),
    "google_api_key": ("AIza",),
    "openai_key": ("sk-",),
    "jwt": ("eyJ",),
    "private_key": ("-----BEGIN",),
    "telegram_bot": (":AA",),
    "sendgrid": ("SG.",),
    "twilio": ("SK", "AC"),
    "npm_token": ("npm_",),
    "pypi_token": ("pypi-",),
    "mailchimp": ("-us",),
    "discord_webhook": ("discord",),
    "basic_auth_url": ("://",),
}

# generic "key/token/secret: <high-entropy value>"
_KEYWORD_TOKEN = re.compile(
    r"(?:secret|secreet|secet|token|api[ _-]?key|key|clé|cle|clave|chave|schlüssel|credential|creds|"
    r"access[ _-]?key|private[ _-]?key|bearer)"
    r"(?:[ \t]+(?:de la |da |de |der |für |for |the |da api|de la api|api|is|ist|es|é|est|c'est|cest|"
    r"den|die|el|la|o|a)(?=\s))*[ \t]*[:=]?[ \t]*['\"]?([A-Za-z0-9/+_=.-]{16,128})",
    re.IGNORECASE,
)

_PW_WORDS = FuzzyLexicon(
    [
        "password",
        "passwort",
        "kennwort",
        "passwd",
        "passcode",
        "contraseña",
        "contrasena",
        "senha",
        "mdp",
        "pw",
        "pwd",
        "pass",
        "clave",
        "wlan-passwort",
        "wifi-passwort",
        "wachtwoord",
        "parola",
        "hasło",
        "haslo",
        "token",
        "mot",
    ],
    min_fuzzy_len=6,
)
_PW_TAIL = re.compile(
    r"(?:\s+de\s+passe)?"
    r"(?:\s+[\w'-]{1,12}){0,4}?"
    r"\s*(?:[:=]|\s(?:is|ist|lautet|es|é|e|est|c'est|cest|era|was)\s)\s*['\"]?"
    r"([^\s'\"]{4,64})",
    re.IGNORECASE,
)
_PW_TAIL_BARE = re.compile(r"\s+['\"]?([^\s'\"]{4,64})")
_TOKWORD = re.compile(r"[^\W\d_][^\W\d_]*(?:-[^\W\d_]+)?")
# the same on ASCII text, where [^\W\d_] is exactly [A-Za-z] (a plain class scans faster)
_TOKWORD_ASCII = re.compile(r"[A-Za-z][A-Za-z]*(?:-[A-Za-z]+)?")


def _tokword(lower: str) -> re.Pattern[str]:
    return _TOKWORD_ASCII if lower.isascii() else _TOKWORD


_PW_KEY = (
    r"(?:p[a@4]?s{1,2}w[o0]?r?d|p[a@]ss|pw|pwd|passwd|passcode|passwort|kennwort|mot\s+de\s+passe|mdp|"
    r"contrase(?:ñ|n)a|clave|senha|password|wifi[ -]?(?:pw|pass|password)?|wlan(?:-?passwort)?|login)"
)
_PW = re.compile(
    r"(?<![\w])"
    + _PW_KEY
    + r"(?:\s+(?:f(?:ü|u)r|for|do|du|de|del|da|of|to|the|den|das|la|le|el|o|a|wifi|wlan|account|konto|compte|"
    r"cuenta|conta|netflix|router|mein|mon|ma|mi|meu|minha|my|new|neue|neues|nuevo|nova|novo|nouveau|"
    r"nouvelle|wi-fi|wifi))*"
    r"\s*(?:[:=]|\s(?:is|ist|lautet|es|é|e|est|c'est|cest|is:|=)\s|\s+)\s*['\"]?"
    r"([^\s'\"]{4,64})",
    re.IGNORECASE,
)
_PIN = re.compile(
    r"(?<![\w])(?:pin(?:-?code)?|pin-nummer|code\s+pin|door\s*code|gate\s*code|alarm\s*code|"
    r"türcode|code\s+de\s+la\s+porte|código\s+(?:de\s+la\s+puerta|do\s+portão|da\s+porta)|digicode|"
    r"code|código|codigo|passcode|unlock\s+code)"
    r"(?:\s+(?:is|ist|es|é|est|c'est|cest|lautet|=|:))?\s*[:=]?\s*(\d{4,8})(?![\w]|[.,/-]\d)",
    re.IGNORECASE,
)
_PIN_NEG = (
    "voucher",
    "promo",
    "discount",
    "coupon",
    "gift",
    "zip",
    "postal",
    "post",
    "area",
    "country",
    "tracking",
    "rastreio",
    "suivi",
    "seguimiento",
    "confirmation",
    "booking",
    "order",
    "verification",
    "verify",
    "otp",
    "sms",
    "source",
    "error",
    "status",
    "http",
    "exit",
    "reference",
    "qr",
    "bar",
)
_PIN_NEG_ANY = _anyof(_PIN_NEG)
_PW_STOP = {
    "reset",
    "change",
    "changed",
    "manager",
    "protected",
    "required",
    "wrong",
    "incorrect",
    "expired",
    "again",
    "please",
    "pls",
    "link",
    "here",
    "there",
    "below",
    "above",
    "same",
    "different",
    "later",
    "soon",
    "sent",
    "send",
    "the",
    "for",
    "and",
    "with",
    "that",
    "this",
    "what",
    "which",
    "your",
    "yours",
    "mine",
    "forgot",
    "forgotten",
    "vergessen",
    "oublié",
    "olvidé",
    "esqueci",
    "page",
    "screen",
    "field",
    "policy",
    "requirements",
    "strength",
    "hint",
    "details",
    "info",
    "email",
    "mail",
    "user",
    "username",
    "works",
    "worked",
    "ok",
    "okay",
    "correct",
    "valid",
    "invalid",
    "ist",
    "est",
    "es",
    "is",
    "und",
    "et",
    "y",
    "e",
    "on",
    "in",
    "at",
    "to",
    "too",
    "also",
    "auch",
    "aussi",
    "también",
    "também",
    "still",
}


def _looks_like_password(v: str) -> bool:
    if v.lower() in _PW_STOP:
        return False
    has_d = any(c.isdigit() for c in v)
    has_sym = any(not c.isalnum() for c in v)
    has_up = any(c.isupper() for c in v)
    has_lo = any(c.islower() for c in v)
    if "@" in v and "." in v.split("@")[-1]:
        return False  # an email address: handled by EMAIL
    if v.startswith(("http", "www.")):
        return False
    return has_d or (has_sym and len(v) >= 6) or (has_up and has_lo and len(v) >= 8)


_HEXISH = re.compile(r"[0-9a-fA-F-]+")


def _entropy_ok(v: str) -> bool:
    classes = sum((any(c.isdigit() for c in v), any(c.isupper() for c in v), any(c.islower() for c in v)))
    if classes < 3 and not (classes == 2 and len(v) >= 32 and not _HEXISH.fullmatch(v)):
        return False
    if _HEXISH.fullmatch(v):
        return False  # hex: git SHAs, UUIDs, hashes
    return len(set(v)) >= 10


# Words a keyword-token / PIN match can start with (every alternative of the pattern's head).
_KEYWORD_STARTS = (
    "secre",
    "secet",
    "token",
    "api",
    "key",
    "clé",
    "cle",
    "clave",
    "chave",
    "schlüssel",
    "cred",
    "access",
    "private",
    "bearer",
)
_PIN_GATES = ("pin", "code", "códig", "codig")
_PIN_STARTS = (
    "pin",
    "code",
    "door",
    "gate",
    "alarm",
    "tür",
    "códig",
    "codig",
    "passcode",
    "digicode",
    "unlock",
)


_PW_GATES = (
    "pw",
    "pas",
    "asw",
    "ssw",
    "swor",
    "wort",
    "wacht",
    "woord",
    "mdp",
    "contra",
    "clave",
    "senh",
    "snh",
    "kennw",
    "passe",
    "token",
    "login",
    "pwd",
)


def _positions(lower: str, words: Iterable[str]) -> list[int]:
    """Sorted start offsets of every occurrence of ``words`` in ``lower``."""
    out = []
    for w in words:
        i = lower.find(w)
        while i >= 0:
            out.append(i)
            i = lower.find(w, i + 1)
    out.sort()
    return out


def detect_secret(text, lower, ctx, pre=None, out=None):
    if out is None:
        out = []
    pre = pre or prepass(text, lower)
    gates = pre[3]
    gated: set[str] = set()
    if gates & _T_ANY_VENDOR:  # (the pre-pass found every vendor's prefixes)
        gated = {name for name, bit in _T_VENDOR.items() if gates & bit}
        if "@" not in text:
            gated.discard("basic_auth_url")  # scheme://user:password@host
    for name, rx in _VENDOR if gated else ():
        if name in gated:
            for m in rx.finditer(text):
                s, e = m.span(1) if name == "basic_auth_url" else m.span()
                conf = 0.99
                if name == "github_token":
                    conf = 0.99 if github_crc_ok(m.group(0)) else 0.85
                out.append(_finding(s, e, SECRET, name, conf))
    if gates & _G_KEYWORD:
        for m in _anchored(_KEYWORD_TOKEN, text, _positions(lower, _KEYWORD_STARTS)):
            v = m.group(1).rstrip(".,;:!?")
            if len(v) >= 16 and _entropy_ok(v):
                s = m.start(1)
                out.append(_finding(s, s + len(v), SECRET, "keyword_token", 0.85))
    # (a password word within one typo: each such word contains one of these)
    if gates & _G_PW and _PW_WORDS.any_member((tokword := _tokword(lower)).findall(lower)):
        seen_end = -1
        for km in tokword.finditer(lower):
            w = km.group(0)
            if len(w) < 2 or w not in _PW_WORDS:
                continue
            if w == "mot" and not lower.startswith(" de passe", km.end()):
                continue
            if w == "token" and lower.startswith(" de ", km.end()):
                pass
            tm = _PW_TAIL.match(text, km.end())
            bare = False
            if tm is None or not _looks_like_password(tm.group(1).rstrip(".,;:!?)")):
                tm = _PW_TAIL_BARE.match(text, km.end())
                bare = True
                if tm is None:
                    continue
            v = tm.group(1).rstrip(".,;:?)")
            if v.endswith("!!"):
                v = v.rstrip("!")
            if len(v) < 4 or not _looks_like_password(v):
                continue
            if bare and not any(c.isdigit() for c in v):
                continue
            s = tm.start(1)
            if s < seen_end:
                continue
            seen_end = s + len(v)
            out.append(_finding(s, s + len(v), SECRET, "chat_password", 0.85))
    if gates & _G_PIN and pre[2] >= 4:
        for m in _anchored(_PIN, text, _positions(lower, _PIN_STARTS)):
            before = _ctx_before(lower, m.start(), 16)
            if _PIN_NEG_ANY(before) is not None:
                continue
            kw = lower[m.start() : m.start(1)]
            if kw.strip().startswith(("code", "código", "codigo")) and not _any_in(
                before + kw,
                (
                    "door",
                    "gate",
                    "alarm",
                    "tür",
                    "porte",
                    "puerta",
                    "portão",
                    "porta",
                    "safe",
                    "tresor",
                    "coffre",
                    "lock",
                    "entry",
                    "entrée",
                    "garage",
                    "building",
                    "haus",
                ),
            ):
                continue
            out.append(_finding(m.start(1), m.end(1), SECRET, "chat_pin", 0.85))
    return out


# ----------------------------------------------------------------------------- DATE OF BIRTH

_MONTHS = {
    # en
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
    # de
    "januar": 1,
    "jänner": 1,
    "februar": 2,
    "märz": 3,
    "maerz": 3,
    "mai": 5,
    "juni": 6,
    "juli": 7,
    "oktober": 10,
    "dezember": 12,
    "okt": 10,
    "dez": 12,
    # fr
    "janvier": 1,
    "février": 2,
    "fevrier": 2,
    "mars": 3,
    "avril": 4,
    "juin": 6,
    "juillet": 7,
    "août": 8,
    "aout": 8,
    "septembre": 9,
    "octobre": 10,
    "novembre": 11,
    "décembre": 12,
    "decembre": 12,
    # es
    "enero": 1,
    "febrero": 2,
    "marzo": 3,
    "abril": 4,
    "mayo": 5,
    "junio": 6,
    "julio": 7,
    "agosto": 8,
    "septiembre": 9,
    "setiembre": 9,
    "octubre": 10,
    "noviembre": 11,
    "diciembre": 12,
    # pt
    "janeiro": 1,
    "fevereiro": 2,
    "março": 3,
    "marco": 3,
    "maio": 5,
    "junho": 6,
    "julho": 7,
    "setembro": 9,
    "outubro": 10,
    "dezembro": 12,
}
_MONTH_RX = "|".join(sorted((re.escape(k) for k in _MONTHS), key=len, reverse=True))
_DATE = re.compile(
    r"(?<![\w.])(?:"
    r"\d{4}-\d{1,2}-\d{1,2}"  # ISO
    r"|\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})"  # numeric
    r"|\d{1,2}(?:st|nd|rd|th)?\.?\s+(?:de\s+)?(?:" + _MONTH_RX + r")\.?,?\s+(?:de\s+)?\d{4}"  # 8 June 2007
    r"|(?:" + _MONTH_RX + r")\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}"  # June 8, 2007
    r")(?![\w]|[./-]\d)",
    re.IGNORECASE,
)
_DOB_CTX = re.compile(
    r"(?:\bborn\b|\bbirth\b|\bdob\b|d\.o\.b|date\s+of\s+birth|birth\s*date|birthday|\bbday\b|b-day|geb\.|geboren|"
    r"geburtsdatum|geburtstag|\bné(?:e)?\b|\bnee\b|date\s+de\s+naissance|naissance|\bnací|\bnaci\b|fecha\s+de\s+"
    r"nacimiento|nacimient|cumpleaños|\bnasci|data\s+de\s+nascimento|nascimento|aniversário|anniversaire)",
    re.IGNORECASE,
)

_DOB_CTX_LOWER = re.compile(_DOB_CTX.pattern)  # run on the lower-cased text: no case folding needed
# every alternative of _DOB_CTX starts with one of these
_DOB_STARTS = (
    "born",
    "birth",
    "dob",
    "d.o.b",
    "date",
    "bday",
    "b-day",
    "geb",
    "né",
    "nee",
    "naissance",
    "nac",
    "fecha",
    "cumpleaños",
    "nasc",
    "data",
    "aniversário",
    "anniversaire",
)


_ISO_HEAD = re.compile(r"\d{4}-")
_NUM_DATE_HEAD = re.compile(r"\d{1,2}[./-]\d{1,2}[./-]")


def _date_plausible(val: str) -> bool:
    nums = [int(x) for x in _DIGIT_RUNS.findall(val)]
    if not nums:
        return False
    years = [n for n in nums if n >= 1000]
    if years and not 1900 <= years[0] <= 2030:
        return False
    if _ISO_HEAD.match(val):
        _y, mo, d = nums[:3]
        return 1 <= mo <= 12 and 1 <= d <= 31
    if _NUM_DATE_HEAD.match(val):
        a, b = nums[0], nums[1]
        return 1 <= a <= 31 and 1 <= b <= 31 and (a <= 12 or b <= 12)
    return True


_DOB_WORDS = FuzzyLexicon(
    [
        "born",
        "dob",
        "birth",
        "birthday",
        "bday",
        "birthdate",
        "geboren",
        "geburtsdatum",
        "geburtstag",
        "geb",
        "né",
        "née",
        "naissance",
        "nací",
        "naci",
        "nacimiento",
        "nacido",
        "nacida",
        "cumpleaños",
        "nasci",
        "nascimento",
        "nascido",
        "nascida",
        "aniversário",
        "anniversaire",
    ],
    min_fuzzy_len=5,
)


_DATE_CHEAP = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{2,4}|(?:19|20)\d\d\b")  # (the runs form below is used)


def _date_possible(text: str, runs: list[tuple[int, int]]) -> bool:
    """``_DATE_CHEAP.search(text) is not None``: a run ending in 19dd or 20dd that no word
    character follows, or runs of >= 1, 1-2 and >= 2 digits one [./-] apart."""
    n = len(text)
    for s, e in runs:
        if e - s >= 4 and text[e - 4 : e - 2] in ("19", "20") and (e == n or not _is_word_char(text[e])):
            return True
    return _run_triples(text, runs, "./-", 1, 2, 2)


_DOB_BREAK = re.compile(r"[.!?\n]\s|\d")
# one substring of every alternative of _DOB_CTX
_DOB_GATES = (
    "born",
    "birth",
    "dob",
    "d.o.b",
    "bday",
    "b-day",
    "geb.",
    "geboren",
    "geburt",
    "né",
    "nee",
    "naissance",
    "nací",
    "naci",
    "cumpleaños",
    "nasci",
    "aniversário",
    "anniversaire",
)


def detect_dob(text, lower, ctx, pre=None, out=None):
    if out is None:
        out = []
    # every date form holds "d[./-]d[./-]d" or a 19xx/20xx year: a cheap necessary condition
    if pre is None:
        pre = prepass(text, lower)
    if not _date_possible(text, pre[0]):
        return out
    if pre[3] & _G_DOB:
        ends = [m.end() for m in _anchored(_DOB_CTX_LOWER, lower, _positions(lower, _DOB_STARTS))]
    else:
        ends = []
    if not ends:
        # typo'd context words: only words that can end <= 40 chars before a date matter
        a = max(0, pre[1][0][0] - 70)
        while a > 0 and lower[a - 1].isalpha():
            a -= 1
        b = pre[1][-1][1]
        tokword = _tokword(lower)
        if not _DOB_WORDS.any_member(tokword.findall(lower, a, b)):
            return out
        ends = [m.end() for m in tokword.finditer(lower, a, b) if m.group(0) in _DOB_WORDS]
    # a date must start within 40 chars after a context word: scan only that window
    # (a date is < 40 chars long, so the window end never cuts one that starts inside it)
    for m in _DATE.finditer(text, min(ends), max(ends) + 90):
        s = m.start()
        ok = False
        for ce in ends:
            if ce <= s and s - ce <= 40:
                between = lower[ce:s]
                if not _DOB_BREAK.search(between):
                    ok = True
                    break
        if not ok or not _date_plausible(m.group(0)):
            continue
        out.append(_finding(s, m.end(), DATE_OF_BIRTH, "dob_context", 0.9))
    return out


# ----------------------------------------------------------------------------- STREET ADDRESS

_U = r"A-ZÀ-ÖØ-ÞĀ-Ž"  # upper-case letters
_L = r"a-zß-öø-ÿā-ž"
_CAPW = r"(?:[" + _U + r"][" + _L + r"'’]+|[" + _U + r"]{2,}|\d{1,3}(?:st|nd|rd|th))"
_EN_TYPES = (
    r"Street|St|Avenue|Ave|Av|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl|"
    r"Terrace|Terr|Gardens|Gdns|Grove|Close|Crescent|Cres|Square|Sq|Parkway|Pkwy|Highway|Hwy|Circle|Cir|"
    r"Trail|Trl|Row|Mews|Hill|Park|Walk|Green|Rise|View|Loop|Pike|Alley|Plaza|Broadway|Embankment|"
    r"Parade|Wharf|Quay"
)
_US_STATES = (
    r"AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|"
    r"NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC|PR"
)
_UNIT = (
    r"(?:,?\s+(?:Apt|Apartment|Unit|Suite|Ste|Flat|Fl|Floor|#|Buzz|Room|Rm)\.?\s*#?\s*[0-9]{1,5}[A-Za-z]?)"
)
_CITY = (
    r"[" + _U + r"][" + _L + r"]+(?:[ -][" + _U + r"][" + _L + r"]+){0,2}"
    r"(?:\s(?:am|an\sder|upon|on|sur|de|del|do|da|dos|das)\s[" + _U + r"][" + _L + r"]+)?"
)
_UK_PC = r"[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}"
_EN_ADDR = re.compile(
    r"(?<![\w#$£€.,-])\d{1,5}[A-Za-z]?,?\s+(?:" + _CAPW + r"\s+){0,3}(?:[" + _U + r"][" + _L + r"'’]+\s+)?"
    r"(?:" + _EN_TYPES + r")\b\.?"
    r"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b\.?)?" + _UNIT + r"?"
    r"(?:,?\s+"
    + _CITY
    + r"(?:,\s*(?:"
    + _US_STATES
    + r")\b\.?(?:\s+\d{5}(?:-\d{4})?)?|\s+"
    + _UK_PC
    + r"|,\s*"
    + _UK_PC
    + r"))?"
)
_DE_SUFFIX = (
    r"straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|chaussee|steig|pfad|markt|"
    r"graben|wall|berg|hof|kamp|stieg|brücke|promenade|tor"
)
_DE_ADDR = re.compile(
    r"(?<![\w])(?:(?:["
    + _U
    + r"]["
    + _L
    + r"]+(?:er)?[ -])?["
    + _U
    + r"]["
    + _L
    + r"]*(?:"
    + _DE_SUFFIX
    + r")"
    r"|(?:Am|An\s+der|An\s+den|Im|In\s+der|Auf\s+der|Zum|Zur|Unter\s+den)\s+[" + _U + r"][" + _L + r"]+)"
    r"\s+\d{1,4}\s?[a-zA-Z]?(?![\w])"
    r"(?:,?\s+\d{5}\s+" + _CITY + r")?"
)
_FR_ADDR = re.compile(
    r"(?<![\w])\d{1,4}(?:\s?(?:bis|ter|[A-Z]))?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|pl\.|chemin|allée|"
    r"impasse|quai|route|cours|square|passage|voie|sentier|rond-point|cité|résidence|faubourg|fbg)"
    r"(?:\s+(?:de\s+la|de\s+l'|du|des|de|d'|la|le|les)?\s*[" + _U + r"][\w'’-]*)"
    r"(?:\s+(?:de\s+la|de\s+l'|du|des|de|d'|la|le|les)?\s*[" + _U + r"][\w'’-]*){0,3}"
    r"(?:,?\s+\d{5}\s+" + _CITY + r")?",
    re.IGNORECASE,
)
_IB_TYPES = (
    r"Calle|C/|Avda\.|Avenida|Av\.|Avd\.|Plaza|Pza\.|Paseo|Pº|Camino|Carrer|Ronda|Travesía|"
    r"Rua|R\.|Travessa|Tv\.|Alameda|Al\.|Praça|Pç\.|Estrada|Largo|Rodovia|Rod\."
)
_IB_ADDR = re.compile(
    r"(?<![\w])(?:" + _IB_TYPES + r")\s*(?:(?:de|del|da|do|dos|das|la|las|los|e|y)\s+)*"
    r"(?:[" + _U + r"][\w'’º.-]*|\d{1,2}(?=\s+de\s))(?:\s+(?:(?:de|del|da|do|dos|das|la|las|los|e|y)\s+)*"
    r"(?:[" + _U + r"][\w'’º.-]*|\d{1,2}(?=\s+de\s))){0,4}"
    r",?\s+(?:n[ºo°]\.?\s*)?\d{1,5}[A-Za-z]?(?![\w])"
    r"(?:,?\s+(?:\d{1,2}\s?[ºª°]\s?(?:[A-Z]\b|(?i:dto|esq|izq|dcha|izda|dcha|drcha|dta)\.?)?|(?:apto|apt|ap|apartamento|"
    r"piso|bloco|casa|sala|loja|andar)\.?\s*\d{1,5}[A-Za-z]?))?"
    r"(?:\s+-\s+" + _CITY + r"(?:\s+(?:de|do|da|dos|das)\s+" + _CITY + r")?)?"
    r"(?:,?\s+(?:\d{5}(?:-\d{3})?|\d{4}-\d{3})\s+" + _CITY + r"(?:\s+(?:de|do|da)\s+" + _CITY + r")?"
    r"|,\s+" + _CITY + r"(?:\s+(?:de|do|da|dos|das)\s+" + _CITY + r")?\s+-\s+[A-Z]{2},?\s+\d{5}-?\d{3})?"
)
_ADDR_GATES = re.compile(
    r"\d\s+\S|str\.|stra|weg\b|gasse|platz|allee|ring\b|rue\b|avenue|calle|c/|avda|rua\b|r\.|av\.|plaza|praça|"
    r"travessa|alameda|paseo|largo|estrada",
    re.IGNORECASE,
)


_EN_GATE = re.compile(r"\d[A-Za-z]?,?\s+[A-Z0-9]")
_DE_SUFFIXES = tuple(_DE_SUFFIX.replace("\\", "").split("|"))
_DE_LEADS = ("Am", "An", "Im", "In", "Auf", "Zum", "Zur", "Unter")
_IB_LITERALS = tuple(_IB_TYPES.replace("\\", "").split("|"))
_ADDR_DOT_END = re.compile(r"(?:St|Ave|Rd|Dr|Ln|Blvd|str|Dto|Esq|Av|Pl|Ct)\.$")


def _anchored(rx: re.Pattern[str], text: str, starts: Iterable[int]) -> Iterator[re.Match[str]]:
    """``rx.finditer(text)`` for a pattern that can only start at one of ``starts`` (sorted)."""
    last = -1
    for s in starts:
        if s < last:
            continue
        m = rx.match(text, s)
        if m is not None:
            last = m.end()
            yield m


_FR_TYPE_WORDS = (
    "rue",
    "av",
    "bd",
    "boulevard",
    "place",
    "pl.",
    "chemin",
    "allée",
    "impasse",
    "quai",
    "route",
    "cours",
    "square",
    "passage",
    "voie",
    "sentier",
    "rond-point",
    "cité",
    "résidence",
    "faubourg",
    "fbg",
)


# After a house number: "[A-Za-z]?,?\\s+" then the next character (English forms need an upper-case
# letter or a digit there; French forms a street type, possibly after "bis"/"ter"/a letter).
_EN_TAIL = re.compile(r"[A-Za-z]?,?\s+(\S)")
_FR_NEAR = re.compile(r"(?:\s?(?:bis|ter|[a-z]))?,?\s+" + _trie_pattern(_FR_TYPE_WORDS))


# Whole-text gates, necessary for the per-number work below: an English match holds a street
# type followed by a word boundary (the pre-pass finds the types, this checks the boundary); a
# French tail (_FR_NEAR) ends with whitespace then a French street type (the pre-pass's _G_FR).
_EN_TYPE_ANY = re.compile(r"(?:" + _EN_TYPES + r")\b").search
_DE_LEAD_ANY = _anyof_rare(_DE_LEADS)  # (== _any_in(s, _DE_LEADS), one scan)
_DE_SUFFIX_TAILS = frozenset(x[-3:] for x in _DE_SUFFIXES)  # (every suffix has >= 3 characters)


def _de_possible(text: str, runs: list[tuple[int, int]], lead: bool) -> bool:
    """ "<Name>straße 5" / "Am Markt 5": a number after whitespace, after a street suffix or a
    lead word (``lead``: whether the text holds one)."""
    for s, _e in runs:
        if s == 0 or not text[s - 1].isspace():
            continue
        before = text[max(0, s - 60) : s]
        head = before.rstrip()
        if head[-3:] in _DE_SUFFIX_TAILS and head.endswith(_DE_SUFFIXES):
            return True
        if lead and _DE_LEAD_ANY(before) is not None:  # (a window holds one only if the text does)
            return True
    return False


def detect_address(text, lower, ctx, pre=None, out=None):
    if out is None:
        out = []
    runs, _windows, _digits, gates = pre or prepass(text, lower)
    if not runs:
        return out
    rules: list[tuple[str, Iterable[re.Match[str]]]] = []
    # English and French forms start at a number; German and Iberian forms end with one
    en_ascii = False
    en_starts = []
    fr_starts = []
    # (most messages hold neither an English nor a French street type: no per-number regex then)
    en = (gates & _T_EN) != 0 and _EN_TYPE_ANY(text) is not None
    fr = (gates & _G_FR) != 0
    for s, e in runs if en or fr else ():
        if e - s > 5:
            continue
        if en:
            m = _EN_TAIL.match(text, e)
            if m is not None and (m.group(1).isupper() or m.group(1).isdigit()):
                en_starts.append(s)
                en_ascii = en_ascii or m.group(1).isascii()
        if fr and e - s <= 4 and _FR_NEAR.match(lower, e) is not None:
            fr_starts.append(s)
    if en_ascii:
        rules.append(("addr_en", _anchored(_EN_ADDR, text, en_starts)))
    if _de_possible(text, runs, (gates & _T_DE_LEAD) != 0):
        rules.append(("addr_de", _DE_ADDR.finditer(text)))
    if fr_starts:
        rules.append(("addr_fr", _anchored(_FR_ADDR, text, fr_starts)))
    if gates & _T_IB:
        rules.append(("addr_ib", _IB_ADDR.finditer(text)))
    for name, matches in rules:
        for m in matches:
            s, e = m.start(), m.end()
            while e > s and text[e - 1] in " ,.":
                if text[e - 1] == "." and _ADDR_DOT_END.search(text, s, e):
                    break
                e -= 1
            out.append(_finding(s, e, STREET_ADDRESS, name, 0.85))
    return out


# ----------------------------------------------------------------------------- word gates
#
# Cheap necessary conditions several detectors test on the whole message: does it contain (as
# a substring) one of these words? Two Aho-Corasick passes (pyahocorasick, in C), one over the
# lower-cased text and one over the text for case-sensitive lists, answer all of them at once
# in the pre-pass, instead of one regex scan each. Each bit is exactly
# ``any(w in s for w in words)``: the automaton reports every occurrence, overlapping ones too.
_G_KEYWORD = 1  # keyword tokens ("api key: ...")
_G_PW = 2  # password words (within one typo, each such word contains one of these)
_G_PIN = 4
_G_NID = 8  # context words of the national ids that need one
_G_DOB = 16  # one substring of every alternative of _DOB_CTX
_G_FR = 32  # whitespace then a French street type: exactly _FR_NEAR's tail
_T_IB = 64  # Spanish / Portuguese street types
_T_DE_LEAD = 128  # German lead words ("Am Markt 3")
_T_EN = 256  # English street types (the gate then checks the word boundary after one)
_T_VENDOR = {name: 512 << i for i, name in enumerate(_VENDOR_GATE)}  # one bit per vendor
_T_ANY_VENDOR = sum(_T_VENDOR.values())
# every character re's \s matches (all below U+3001; a test checks the whole range)
_WHITESPACE = tuple(c for c in map(chr, range(0x3001)) if re.match(r"\s", c))
_LOWER_GATE_LISTS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (_G_KEYWORD, _KEYWORD_STARTS),
    (_G_PW, _PW_GATES),
    (_G_PIN, _PIN_GATES),
    (_G_NID, _NID_ALL_WORDS),
    (_G_DOB, _DOB_GATES),
    (_G_FR, tuple(c + w for c in _WHITESPACE for w in _FR_TYPE_WORDS)),
)
_TEXT_GATE_LISTS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (_T_IB, _IB_LITERALS),
    (_T_DE_LEAD, _DE_LEADS),
    (_T_EN, tuple(_EN_TYPES.split("|"))),
    *((_T_VENDOR[name], gates) for name, gates in _VENDOR_GATE.items()),
)


def _gate_automaton(lists: Iterable[tuple[int, Iterable[str]]]) -> ahocorasick.Automaton:
    """An automaton whose every word carries the OR of the bits of the lists holding it."""
    bits: dict[str, int] = {}
    for bit, words in lists:
        for w in words:
            bits[w] = bits.get(w, 0) | bit
    automaton = ahocorasick.Automaton()
    for w, b in bits.items():
        automaton.add_word(w, b)
    automaton.make_automaton()
    return automaton


_LOWER_GATES = _gate_automaton(_LOWER_GATE_LISTS)
_TEXT_GATES = _gate_automaton(_TEXT_GATE_LISTS)


def word_gates(text: str, lower: str) -> int:
    """The OR of the bits of every list with a word in ``lower`` (lower-case lists) or in
    ``text`` (case-sensitive lists)."""
    found = 0
    for _end, bits in _LOWER_GATES.iter(lower):
        found |= bits
    for _end, bits in _TEXT_GATES.iter(text):
        found |= bits
    return found


# ----------------------------------------------------------------------------- PERSON


class PersonModel(Protocol):
    """Optional NER plug-in: returns (start, end, confidence) spans of person names."""

    def find_persons(self, text: str) -> Sequence[tuple[int, int, float]]: ...


def _load_names(fn: str) -> frozenset[str]:
    p = _DATA / fn
    if not p.exists():
        return frozenset()
    with p.open(encoding="utf-8") as f:
        return frozenset(line.strip() for line in f if line.strip() and not line.startswith("#"))


_NAME_SETS: dict[str, frozenset[str]] = {}


def name_sets() -> dict[str, frozenset[str]]:
    if not _NAME_SETS:
        _NAME_SETS["first"] = _load_names("first_names.txt")
        _NAME_SETS["first_amb"] = _load_names("first_names_ambiguous.txt")
        _NAME_SETS["last"] = _load_names("last_names.txt")
        _NAME_SETS["last_amb"] = _load_names("last_names_ambiguous.txt")
        _NAME_SETS["nameish"] = _NAME_SETS["first"] | _NAME_SETS["first_amb"]
        # every word that can make a neighbouring word a name candidate (see detect_person)
        _NAME_SETS["_cand"] = _NAME_SETS["nameish"] | _NAME_SETS["last"] | _STRONG_LAST
    return _NAME_SETS


# Words that are never a name when capitalised at the start of a phrase.
_NOT_NAMES = frozenset(
    [
        "i",
        "im",
        "i'm",
        "ok",
        "okay",
        "lol",
        "omg",
        "hey",
        "hi",
        "hello",
        "yo",
        "thx",
        "thanks",
        "btw",
        "pls",
        "please",
        "yes",
        "no",
        "not",
        "and",
        "or",
        "but",
        "the",
        "a",
        "an",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "montag",
        "dienstag",
        "mittwoch",
        "donnerstag",
        "freitag",
        "samstag",
        "sonntag",
        "lundi",
        "mardi",
        "mercredi",
        "jeudi",
        "vendredi",
        "samedi",
        "dimanche",
        "lunes",
        "martes",
        "miércoles",
        "jueves",
        "viernes",
        "sábado",
        "domingo",
        "segunda",
        "terça",
        "quarta",
        "quinta",
        "sexta",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "paris",
        "london",
        "berlin",
        "madrid",
        "lisbon",
        "lisboa",
        "porto",
        "rome",
        "austin",
        "dallas",
        "houston",
        "phoenix",
        "denver",
        "boston",
        "chicago",
        "washington",
        "jordan",
        "victoria",
        "florence",
        "georgia",
        "virginia",
        "carolina",
        "dakota",
        "brooklyn",
        "savannah",
        "sydney",
        "vienna",
        "santiago",
        "sofia",
        "lima",
        "santos",
        "manda",
        "fala",
        "liga",
        "sag",
        "dile",
        "dis",
        "frag",
        "ruf",
        "apple",
        "google",
        "amazon",
        "netflix",
        "spotify",
        "uber",
        "tesla",
        "visa",
        "mastercard",
        "iban",
        "ssn",
        "dob",
        "pin",
        "ip",
        "url",
        "aws",
        "api",
        "christmas",
        "easter",
    ]
)

_TRIGGER_PHRASES = (
    # en
    "my name is",
    "my name's",
    "name is",
    "i am",
    "i'm",
    "im",
    "it's",
    "its",
    "it is",
    "this is",
    "ask",
    "tell",
    "text",
    "txt",
    "call",
    "email",
    "mail",
    "cc",
    "ping",
    "message",
    "dm",
    "with",
    "and",
    "thx",
    "thanks",
    "thank you",
    "ty",
    "hi",
    "hey",
    "hello",
    "dear",
    "yo",
    "ran into",
    "met",
    "meet",
    "landlord is",
    "boss is",
    "brother",
    "sister",
    "mom",
    "dad",
    "wife",
    "husband",
    "friend",
    "details:",
    "holder",
    "account holder",
    "did",
    "omg",
    "sorry",
    "love",
    "miss",
    "from",
    "via",
    "for",
    "to",
    "by",
    # de
    "ich bin",
    "hier ist",
    "hier spricht",
    "ich heiße",
    "mein name ist",
    "sag",
    "frag",
    "schreib",
    "ruf",
    "hallo",
    "servus",
    "moin",
    "danke",
    "kontoinhaber",
    "kontoinhaberin",
    "inhaber",
    "mit",
    "und",
    # fr
    "je suis",
    "c'est",
    "cest",
    "moi c'est",
    "je m'appelle",
    "dis à",
    "dis a",
    "demande à",
    "salut",
    "bonjour",
    "coucou",
    "merci",
    "titulaire",
    "avec",
    "et",
    # es
    "soy",
    "me llamo",
    "mi nombre es",
    "dile a",
    "pregúntale a",
    "pregunta a",
    "hola",
    "gracias",
    "titular",
    "con",
    "y",
    # pt
    "sou",
    "aqui é",
    "meu nome é",
    "me chamo",
    "fala pro",
    "fala pra",
    "fala com",
    "pergunta pro",
    "pergunta pra",
    "oi",
    "olá",
    "valeu",
    "obrigado",
    "obrigada",
    "com",
    "e",
    # sign-offs, introductions and "ask / talk to X" in the five languages
    "cheers",
    "regards",
    "best",
    "named",
    "ask for",
    "talk to",
    "speak to",
    "von",
    "grüße",
    "gruß",
    "lg",
    "bisous",
    "bises",
    "cordialement",
    "parle à",
    "parle a",
    "saludos",
    "abrazos",
    "habla con",
    "besos",
    "beijos",
    "abraços",
    "abraço",
    "fale com",
    "att",
)
_STRONG_PHRASES = (
    "my name is",
    "name's",
    "this is",
    "it's",
    "its",
    "ask",
    "tell",
    "text",
    "hey",
    "hi",
    "hello",
    "dear",
    "thx",
    "thanks",
    "cc",
    "landlord is",
    "ran into",
    "hier ist",
    "ich bin",
    "sag",
    "frag",
    "hallo",
    "kontoinhaber",
    "kontoinhaberin",
    "je suis",
    "c'est",
    "dis à",
    "salut",
    "bonjour",
    "coucou",
    "titulaire",
    "soy",
    "dile a",
    "hola",
    "titular",
    "sou",
    "aqui é",
    "fala pro",
    "fala pra",
    "oi",
    "olá",
    "i'm",
    "i am",
    "named",
    "cheers",
    "regards",
    "mein name ist",
    "ich heiße",
    "je m'appelle",
    "moi c'est",
    "me llamo",
    "mi nombre es",
    "me chamo",
    "meu nome é",
    "grüße",
    "bisous",
    "bises",
    "saludos",
    "abrazos",
    "beijos",
    "abraços",
    "ask for",
    "talk to",
    "speak to",
    "sprich mit",
    "habla con",
    "fale com",
)


def _reversed_phrase_rx(phrases: Sequence[str], bare: Sequence[str], ws: str) -> re.Pattern[str]:
    """Matches, at position 0 of the *reversed* text before a word, trailing whitespace then one
    of ``phrases`` starting on a word boundary (or one of ``bare``, no boundary needed). An
    anchored match on the reversed string is much cheaper than ``search(... $)`` on the original."""
    # Only ``match(...) is not None`` is used, so the alternatives may be prefix-factored into a
    # trie (a flat alternation of ~150 phrases is tried one by one at every call).
    trie: dict = {}
    for p, bounded in [(p, True) for p in phrases] + [(p, False) for p in bare]:
        node = trie
        for ch in p[::-1]:
            node = node.setdefault(ch, {})
        node[""] = node.get("", True) and bounded  # an unbounded end accepts more

    def build(node: dict) -> str:
        alts = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if "" in node:
            alts.append(r"(?!\w)" if node[""] else "")
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return re.compile(ws + build(trie), re.IGNORECASE)


# last word of every strong lead-in: a cheap set test before the reversed-phrase regex
_STRONG_LAST = frozenset([p.split()[-1].rstrip(":") for p in _STRONG_PHRASES] + ["details", "app"])
_TRIGGER_REV = _reversed_phrase_rx(_TRIGGER_PHRASES, (":",), r"\s*")
_STRONG_REV = _reversed_phrase_rx(
    [p for p in _STRONG_PHRASES if not p.endswith(":")], ("details:", "app:"), r"\s+"
)


def _triggered(before: str) -> bool:
    return _TRIGGER_REV.match(before[::-1]) is not None


def _strong_triggered(before: str) -> bool:
    return _STRONG_REV.match(before[::-1]) is not None


def _sentence_start(before: str) -> bool:
    """``before`` (the text up to a word) ends a sentence: nothing, ``[.!?]`` or an emoji, then
    optional whitespace; or a line break."""
    if not before:
        return True
    t = before.rstrip()
    if "\n" in before[len(t) :]:
        return True
    if not t:
        return False
    c = t[-1]
    return c in ".!?" or 0x1F000 <= ord(c) <= 0x1FFFF


_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿĀ-ž][A-Za-zÀ-ÖØ-öø-ÿĀ-ž'’-]*")


@cython.cfunc
@cython.inline
@cython.locals(c=cython.Py_UCS4)
@cython.returns(cython.bint)
def _word_letter(c):
    """Whether ``c`` is in _WORD's letter class (A-Z, a-z, U+00C0-U+017E but × and ÷)."""
    return (
        ("a" <= c <= "z")
        or ("A" <= c <= "Z")
        or ("\u00c0" <= c <= "\u017e" and c != "\u00d7" and c != "\u00f7")
    )


@cython.locals(i=cython.Py_ssize_t, n=cython.Py_ssize_t, start=cython.Py_ssize_t, c=cython.Py_UCS4)
def _words(text: str) -> list[str]:
    """``_WORD.findall(text)``; in the compiled core, one walk over the characters in C (as for
    :func:`_digit_runs`: about a third of the regex's instructions on chat messages)."""
    if not cython.compiled:
        return _WORD.findall(text)
    words = []
    n = len(text)
    start = -1
    i = -1
    for c in text:
        i += 1
        if start >= 0:
            if _word_letter(c) or c == "'" or c == "\u2019" or c == "-":
                continue
            words.append(text[start:i])
            start = -1
        elif _word_letter(c):
            start = i
    if start >= 0:
        words.append(text[start:n])
    return words


def _name_key(w: str) -> str:
    return w.lower().replace("’", "'")


def _is_first(w: str, sets, allow_amb: bool) -> bool:
    k = _name_key(w)
    if "-" in k:
        parts = k.split("-")
        return all(p in sets["first"] for p in parts if p)
    if k in sets["first"]:
        return True
    return allow_amb and k in sets["first_amb"]


def _is_last(w: str, sets) -> bool:
    k = _name_key(w)
    if k.startswith(("mc", "mac", "o'", "d'")) and len(k) > 3:
        return True
    return k in sets["last"] or k in sets["last_amb"] or k in sets["first"]


def detect_person(text, lower, ctx, pre=None, out=None):
    if out is None:
        out = []
    sets = name_sets()
    first, first_amb, last = sets["first"], sets["first_amb"], sets["last"]
    nameish = sets["nameish"]
    # Fast path (exact): a word can only start a name when it, its successor or its
    # predecessor is in one of the word lists (or it holds "-" / "’"): one C-level word scan,
    # one set test for the whole message, and the loop visits only those neighbourhoods.
    ws = _words(text)
    joined = " ".join(ws).lower()
    keys = joined.split(" ")  # == [w.lower() for w in ws] (case mapping never yields a space)
    hits = sets["_cand"].intersection(keys)
    if not hits and "-" not in joined and "’" not in joined:
        return out
    n = len(ws)
    # the pre-check below passes word i only when: keys[i] in nameish / holds "-" or "’",
    # keys[i + 1] in last, or keys[i - 1] in _STRONG_LAST and word i is capitalised; and a
    # word in _NOT_NAMES or shorter than 2 characters is rejected right after it
    cand: set[int] = set()
    for idx, key in enumerate(keys):  # (one pass with a set test per word: cheaper than
        if key not in hits:  # list.count / list.index per hit word, which compare strings)
            continue
        if key in nameish:
            cand.add(idx)
        if idx and key in last:
            cand.add(idx - 1)
        if key in _STRONG_LAST and idx + 1 < n and ws[idx + 1][0].isupper():
            cand.add(idx + 1)
    if "-" in joined or "’" in joined:
        for idx, key in enumerate(keys):
            if "-" in key or "’" in key:
                cand.add(idx)
    todo = [c for c in sorted(cand) if len(ws[c]) >= 2 and ("’" in keys[c] or keys[c] not in _NOT_NAMES)]
    if not todo:
        return out
    # word offsets: each word is the first occurrence of its text after the previous word (no
    # character before a word's match can start a word), so chained str.find gives the starts
    st: list[int] = []
    p = 0
    for w in ws[: todo[-1] + 5]:
        p = text.find(w, p)
        st.append(p)
        p += len(w)
    found: list[tuple[int, int]] = []
    i = 0
    for ci in todo:
        if ci < i:
            continue
        i = ci
        k = keys[i]
        # cheap pre-check (set look-ups): only words that could start a name go further
        if k not in nameish and "-" not in k and "’" not in k and not (i + 1 < n and keys[i + 1] in last):
            if i == 0 or keys[i - 1] not in _STRONG_LAST or not text[st[i]].isupper():
                i += 1
                continue
            if not _strong_triggered(text[max(0, st[i] - 20) : st[i]]):
                i += 1
                continue
        w = ws[i]
        s = st[i]
        me = s + len(w)
        nxt = text[me : me + 1]
        if (nxt and (nxt == "_" or nxt == "@" or nxt.isdigit())) or (s > 0 and text[s - 1] in "@#_./"):
            i += 1
            continue  # part of a handle, email, hashtag, password or path
        cap = w[0].isupper() and not w.isupper()
        k = keys[i].replace("’", "'")  # == _name_key(w): keys[i] == w.lower()
        if k in _NOT_NAMES or len(w) < 2:
            i += 1
            continue
        before = text[max(0, s - 30) : s]
        # (whether a lead-in precedes: computed on first use, as most words never need it)
        trig: bool | None = None
        is_first = False
        conf = 0.0
        if cap:
            sentence_start = s == 0 or _sentence_start(before)  # (only capitalised words need it)
            if _is_first(w, sets, allow_amb=False):
                is_first = True
                conf = 0.8 if ((trig := _triggered(before)) or not sentence_start) else 0.7
            elif (
                _is_first(w, sets, allow_amb=True)
                and (trig if trig is not None else (trig := _triggered(before)))
                and not sentence_start
            ):
                is_first = True
                conf = 0.7
        elif w.islower() and k not in _COMMON_LOWER and len(w) >= 3:
            if _is_first(w, sets, allow_amb=False) and ((trig := _triggered(before)) or len(w) >= 4):
                # lower-case chat: a given name that is not also a common word
                is_first = True
                conf = 0.7 if trig else 0.6
            elif k in first_amb and _strong_triggered(before):
                # "thx liam", "soy juan": an ambiguous given name right after a strong lead-in
                is_first = True
                conf = 0.6
        if not is_first and i + 1 < n and text[me : st[i + 1]] == " ":
            # "Ananya Brown": unknown given name followed by a known surname, after a trigger,
            # or an ambiguous given name ("Tom", "Grace") followed by a known surname.
            nw = ws[i + 1]
            nk = keys[i + 1].replace("’", "'")
            if (
                cap
                and nw[0].isupper()
                and not nw.isupper()
                and nk in sets["last"]
                and nk not in _NOT_NAMES
                and ((trig if trig is not None else (trig := _triggered(before))) or k in sets["first_amb"])
                and k not in _COMMON_CAP
                and len(w) >= 3
            ):
                is_first = True
                conf = 0.7
            elif (
                (not cap)
                and w.islower()
                and nw.islower()
                and (k in first or k in first_amb or (w.isalpha() and _strong_triggered(before)))
                and (nk in last)
                and nk not in _COMMON_LOWER
                and k not in _COMMON_LOWER
                and (
                    len(w) >= 4
                    or (
                        len(w) == 3
                        and ((trig if trig is not None else (trig := _triggered(before))) or len(nw) >= 5)
                    )
                )
            ):
                # "lea becker": a (possibly ambiguous) given name and a known surname, both lower case
                is_first = True
                conf = 0.65
        if (
            not is_first
            and cap
            and len(w) >= 3
            and w.isalpha()
            and k not in first_amb
            and _strong_triggered(before)
        ):
            # unknown but capitalised word right after a strong name trigger ("text Wei at", "Hey Mei!")
            is_first = True
            conf = 0.6
        if not is_first:
            i += 1
            continue
        end = me
        j = i + 1
        # surname(s)
        while j < n and j <= i + 2:
            gap = text[end : st[j]]
            if gap != " ":
                break
            nw = ws[j]
            nk = keys[j].replace("’", "'")
            if nk in _NOT_NAMES and nk not in last and nk not in sets["last_amb"]:
                break  # (a city or brand that is also a surname still counts: "Vinícius Lima")
            if (
                cap
                and nw[0].isupper()
                and (not nw.isupper() or len(nw) <= 2)
                and (_is_last(nw, sets) or nk not in sets["first_amb"])
            ):
                if not _is_last(nw, sets) and nk in _COMMON_CAP:
                    break
                end = st[j] + len(nw)
                j += 1
                continue
            if (not cap) and nw.islower() and _is_last(nw, sets) and nk not in _COMMON_LOWER:
                end = st[j] + len(nw)
                j += 1
                continue
            break
        out.append(_finding(s, end, PERSON, "name_heuristic", conf))
        found.append((i, j - 1))
        i = j
    if found:
        _coordinated(text, ws, st, found, sets, out)
    return out


_AND = frozenset(["and", "und", "et", "y", "e", "&", "or", "oder", "ou", "o"])


def _coordinated(text, ws, st, found, sets, out) -> None:
    """ "david and mia", "Lea und Tom": a given name joined by a conjunction to a detected name."""
    taken = {k for a, b in found for k in range(a, b + 1)}
    n = len(st)
    for a, b in found:
        for conj, cand in ((b + 1, b + 2), (a - 1, a - 2)):
            if cand < 0 or cand >= n or cand in taken or ws[conj].lower() not in _AND:
                continue
            lo, hi = min(conj, cand), max(conj, cand)
            if (
                text[st[lo] + len(ws[lo]) : st[lo + 1]] != " "
                or text[st[hi - 1] + len(ws[hi - 1]) : st[hi]] != " "
            ):
                continue
            w = ws[cand]
            k = _name_key(w)
            if len(w) < 2 or k in _NOT_NAMES or k in _COMMON_LOWER or (w.isupper() and len(w) > 1):
                continue
            if not (k in sets["first"] or k in sets["first_amb"]):
                continue
            if not (w.islower() or (w[0].isupper() and w[1:].islower())):
                continue
            taken.add(cand)
            out.append(_finding(st[cand], st[cand] + len(w), PERSON, "name_coordinated", 0.6))


_COMMON_CAP = frozenset(
    [
        "street",
        "road",
        "avenue",
        "lane",
        "drive",
        "str",
        "the",
        "and",
        "for",
        "with",
        "from",
        "bank",
        "app",
        "iban",
        "ssn",
        "dob",
    ]
)
_COMMON_LOWER = frozenset(
    [
        "is",
        "at",
        "and",
        "or",
        "the",
        "to",
        "for",
        "from",
        "with",
        "on",
        "in",
        "by",
        "of",
        "a",
        "an",
        "if",
        "are",
        "was",
        "were",
        "will",
        "has",
        "have",
        "had",
        "just",
        "she",
        "he",
        "they",
        "we",
        "you",
        "it",
        "its",
        "lol",
        "omg",
        "thx",
        "pls",
        "btw",
        "ur",
        "u",
        "rn",
        "tmrw",
        "tonight",
        "today",
        "said",
        "says",
        "who",
        "que",
        "eu",
        "já",
        "se",
        "ya",
        "voy",
    ]
)


def detect_known_names(text, lower, ctx, pre=None, out=None):
    if out is None:
        out = []
    rx = ctx.known_names_rx
    if rx is None:
        return out
    for m in rx.finditer(lower):
        out.append(_finding(m.start(), m.end(), PERSON, "known_name", 0.99))
    return out


def forget_values() -> None:
    """Empty the caches keyed by values seen in messages (phone validations, typo'd context
    words), as in a fresh worker: the benchmark measures messages it has not seen before."""
    _phone_valid.cache_clear()
    _PW_WORDS.forget()
    _DOB_WORDS.forget()


# ----------------------------------------------------------------------------- registry

DETECTORS = {
    EMAIL: detect_email,
    URL: detect_url,
    IP_ADDRESS: detect_ip,
    CREDIT_CARD: detect_card,
    IBAN: detect_iban,
    US_SSN: detect_ssn,
    NATIONAL_ID: detect_national_id,
    PHONE: detect_phone,
    SECRET: detect_secret,
    DATE_OF_BIRTH: detect_dob,
    STREET_ADDRESS: detect_address,
    PERSON: detect_person,
}
_URL_GATE = re.compile(r"\.(?:" + _TLDS + r")(?![\w@-])")


def _url_gate(text: str, lower: str) -> bool:
    return "://" in lower or "www." in lower or _URL_GATE.search(lower) is not None


# Pre-pass plan: type -> (minimum number of digits in the message, cheap extra gate or None).
# Both are necessary conditions of every pattern of the detector, so skipping is lossless.
_GATES: dict[str, tuple[int, Callable[[str, str], bool] | None]] = {
    EMAIL: (0, lambda t, lo: "@" in t),
    URL: (0, _url_gate),
    IP_ADDRESS: (1, lambda t, lo: "." in t or ":" in t),
    CREDIT_CARD: (12, None),
    IBAN: (2, None),
    US_SSN: (9, None),
    NATIONAL_ID: (7, None),
    PHONE: (7, None),
    SECRET: (0, None),
    DATE_OF_BIRTH: (4, None),
    STREET_ADDRESS: (1, None),
}

DEFAULT_REGIONS = (
    "US",
    "GB",
    "DE",
    "FR",
    "ES",
    "PT",
    "BR",
    "IN",
    "IT",
    "NL",
    "CA",
    "AU",
    "IE",
    "CH",
    "AT",
    "BE",
    "MX",
)


class Redactor:
    """Runs the detectors over a text and returns resolved findings.

    ``region_hints``: phone regions tried first (e.g. the archive owner's country and the
    partner's); the defaults follow. ``known_names``: participants' and contacts' names,
    matched case-insensitively on word boundaries. ``person_model``: optional NER plug-in.
    ``enabled``: restrict to these types. ``rules``: optional :class:`~.rules.RuleSet`.
    """

    def __init__(
        self,
        region_hints: Sequence[str] = (),
        known_names: Sequence[str] = (),
        person_model: PersonModel | None = None,
        enabled: Iterable[str] | None = None,
        rules=None,
        person_heuristics: bool = True,
    ):
        regions = [r.upper() for r in region_hints]
        for r in DEFAULT_REGIONS:
            if r not in regions:
                regions.append(r)
        self.phone_regions = tuple(regions)
        names = sorted(
            {n.strip().lower() for n in known_names if n and len(n.strip()) >= 2}, key=len, reverse=True
        )
        self.known_names_rx = (
            re.compile(r"(?<![\w])(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w])")
            if names
            else None
        )
        self.person_model = person_model
        self.rules = rules
        types = set(enabled) if enabled is not None else set(DETECTORS)
        if rules is not None:
            types = {t for t in types if rules.type_enabled(t)}
        if not person_heuristics:
            self._person = False
        else:
            self._person = PERSON in types
        # detectors needing no digit run first (the order decides exact ties in resolve_overlaps)
        order = sorted((t for t in DETECTORS if t in types and t != PERSON), key=lambda t: _GATES[t][0] > 0)
        self._plan = [(DETECTORS[t], *_GATES[t]) for t in order]
        self._types = types

    def detect_raw(self, text: str) -> list[Finding]:
        lower = text.lower()
        if len(lower) != len(text):  # rare: case mapping changes length; keep offsets exact
            lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        # one cheap pre-pass: digit count decides which digit-based detectors can fire at all
        pre = prepass(text, lower)
        ndig = pre[2]  # most digits in one number window
        out: list[Finding] = []
        for det, min_digits, gate in self._plan:
            if ndig < min_digits or (gate is not None and not gate(text, lower)):
                continue
            det(text, lower, self, pre, out)
        if PERSON in self._types:
            if self.known_names_rx is not None:
                detect_known_names(text, lower, self, pre, out)
            if self._person:
                detect_person(text, lower, self, pre, out)
            if self.person_model is not None:
                for s, e, c in self.person_model.find_persons(text):
                    out.append(_finding(s, e, PERSON, "person_model", c))
        if self.rules is not None:
            out = self.rules.apply(text, lower, out)
        return out

    def detect(self, text: str) -> list[Finding]:
        found = self.detect_raw(text)
        return found if len(found) < 2 else resolve_overlaps(found)  # (fewer: nothing to resolve)
