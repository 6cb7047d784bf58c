"""The pre-pass / windowed scanning and the gates must not change what is found, and the
PERSON heuristics cover lead-ins, lower-case names and coordinated names."""

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from compliance.redaction import Redactor
from compliance.redaction import detectors as D

R = Redactor(region_hints=["DE", "US"])


def persons(text, r=R):
    return [text[f.start : f.end] for f in r.detect(text) if f.type == "PERSON"]


# ----------------------------------------------------------------- pre-pass equivalence

_PIECES = [
    "call me +49 (0) 171 2345678",
    "card 4111 1111 1111 1111 exp 12/29",
    "ssn 123-45-6789",
    "ip 10.0.0.12",
    "IBAN DE89 3704 0044 0532 0130 00",
    "v1.2.3.4",
    "1.5",
    "2024-05-06",
    "born 3/4/1990",
    "ref 12-34 56",
    "order #123456789012",
    "Hauptstraße 5, 10115 Berlin",
    "12bis rue de Rivoli",
    "221B Baker Street",
    "Calle Mayor 12, 28013 Madrid",
    "pin: 4821",
    "door code 7731",
    "123.456.789-09 cpf",
    "x",
    "",
    "RSSMRA85T10A562S",
    "born on 12 de junio de 1991",
    "tel 0151/23456789",
    "+1 (555) 010-9999",
]


def _random_texts(n=400, seed=7):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        parts = rnd.sample(_PIECES, rnd.randint(1, 4))
        seps = [rnd.choice([" ", ", ", "  ", ".", "\n", " and ", "-", ""]) for _ in parts]
        out.append("".join(p + s for p, s in zip(parts, seps, strict=True)))
    return out


@pytest.mark.parametrize(
    "rx", [D._CARD, D._SSN, D._PHONE, D._IPV4, D._DATE_CHEAP] + [r for r, _n, w in D._NID_RULES if w]
)
def test_windowed_scan_equals_whole_text_scan(rx):
    assert rx.search("") is None and rx.search(" a.-/") is None  # (_scan's searches rely on it)
    for t in _random_texts():
        whole = [m.span() for m in rx.finditer(t)]
        assert [m.span() for m in D._scan(rx, t, D.prepass(t), 0)] == whole, t


def test_run_anchored_address_and_iban_scans_equal_finditer():
    for t in _random_texts():
        pre = D.prepass(t)
        starts = [s for s, _e in pre[0]]
        for rx in (D._EN_ADDR, D._FR_ADDR):
            assert [m.span() for m in D._anchored(rx, t, starts)] == [m.span() for m in rx.finditer(t)], t
        want = [m.span() for m in D._IBAN.finditer(t) if m.group(1)[:2].upper() in D.IBAN_LENGTHS]
        assert [m.span() for m in D._iban_candidates(t, pre)] == want, t


def test_anyof_is_substring_any():
    words = ("pin", "pinned", "code", "códig", "a.b", "x|y")
    f = D._anyof(words)
    for s in ("spinning", "the codex", "códigos", "a.b", "axb", "x|y", "xy", "", "nothing"):
        assert (f(s) is not None) == any(w in s for w in words), s


def test_trigger_reversed_match_equals_suffix_regex():
    ref = re.compile(r"(?:\b(?:" + "|".join(re.escape(p) for p in D._TRIGGER_PHRASES) + r")|:)\s*$", re.I)
    for before in ("thanks ", "bits ", "hey", "ask  ", "details: ", "x:", "moi c'est ", "com", "income ", ""):
        assert D._triggered(before) == bool(ref.search(before)), before


# ----------------------------------------------------------------- PERSON heuristics


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("ok this is zofia kowalski from the gym", "zofia kowalski"),
        ("thx oskar, see u later", "oskar"),
        ("frag mal leonie, die weiß das", "leonie"),
        ("rebecca and tobias are coming too", "tobias"),
        ("Haruka said she would bring the cake", "Haruka"),
        ("I'm Ottilie, we met yesterday", "Ottilie"),
        ("fala com Joaquim Barbosa amanhã", "Joaquim Barbosa"),
        ("sortons avec Mathilde ce soir", "Mathilde"),
    ],
)
def test_person_lead_ins_and_lower_case(text, name):
    assert any(name in p for p in persons(text)), (text, persons(text))


@pytest.mark.parametrize(
    "text",
    [
        "will you mark it in may?",
        "ping the server and check the gang of four book",
        "per org and per team limits apply",
        "- Media files are uploaded nightly",
    ],
)
def test_person_false_positives(text):
    assert persons(text) == []


def test_name_lists_are_reproducible():
    pytest.importorskip("faker")
    script = Path(D.__file__).with_name("data") / "build_names.py"
    proc = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ----------------------------------------------------------------- fast paths (redact-speed)

_URL_PIECES = [
    "see https://example.com/a?b=c",
    "www.Example.ORG",
    "go to shop.example.co.uk/path",
    "file.py",
    "v1.2.3",
    "mail a@b.de",
    "http://10.0.0.1:8080/",
    "EXAMPLE.COM",
    "x.io",
    "ftp://user:pw@host.net",
    "(see foo.dev/x)",
    "tab\there.com\tnext",
    "emoji😀site.fr",
]


def _url_texts(n=500, seed=13):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        parts = rnd.sample(_URL_PIECES + _PIECES, rnd.randint(1, 4))
        seps = [rnd.choice([" ", ", ", "\n", "", ".", "/", "\u00a0"]) for _ in parts]
        out.append("".join(p + s for p, s in zip(parts, seps, strict=True)))
    return out


def test_url_token_scan_equals_whole_text_scan():
    for t in _url_texts():
        got = [m.span() for a, b in D._url_tokens(t, t.lower()) for m in D._URL.finditer(t, a, b)]
        assert got == [m.span() for m in D._URL.finditer(t)], t


def test_ascii_tokword_equals_unicode_tokword():
    for t in [*_url_texts(), *_random_texts()]:
        lo = t.lower()
        if lo.isascii():
            assert D._tokword(lo).findall(lo) == D._TOKWORD.findall(lo), t


def test_phone_digits_translate_equals_sub():
    for t in [*_random_texts(), "+49 (0) 171/234.5678", "00 33 1 23 45 67 89"]:
        for m in D._PHONE.finditer(t):
            assert m.group(0).translate(D._PHONE_PUNCT) == D._NON_DIGITS.sub("", m.group(0)), t


def test_de_possible_equals_window_loop():
    texts = [*_random_texts(), "Am Markt 3", "wohne Gartenweg  7a", "In 5 min", "Unter den Linden 77", "An 1"]
    for t in texts:
        runs, _windows, _digits, gates = D.prepass(t)
        ref = False
        for s, _e in runs:
            if s and t[s - 1].isspace():
                before = t[max(0, s - 60) : s]
                if before.rstrip().endswith(D._DE_SUFFIXES) or D._any_in(before, D._DE_LEADS):
                    ref = True
                    break
        assert D._de_possible(t, runs, (gates & D._T_DE_LEAD) != 0) == ref, t


def _luhn_ref(digits):
    total, odd = 0, True
    for ch in reversed(digits):
        d = ord(ch) - 48
        if not odd:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
        odd = not odd
    return total % 10 == 0


def _mod97_ref(compact):
    total = 0
    for ch in compact[4:] + compact[:4]:
        if ch.isdigit():
            total = (total * 10 + ord(ch) - 48) % 97
        else:
            v = ord(ch) - 55
            if not 10 <= v <= 35:
                return False
            total = (total * 100 + v) % 97
    return total == 1


def test_checksum_fast_paths_equal_digit_loops():
    from compliance.redaction.checksums import iban_mod97_ok, luhn_ok

    rnd = random.Random(17)
    cases = [
        "",
        "0",
        "4111111111111111",
        "DE89370400440532013000",
        "GB82WEST12345698765432",
        "de89 3704",
        "٣٣",
    ]
    for _ in range(5000):
        cases.append("".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 20))))
        cases.append("".join(rnd.choice("0123456789ABCZaz -") for _ in range(rnd.randint(1, 30))))
    for c in cases:
        assert luhn_ok(c) == _luhn_ref(c), c
        assert iban_mod97_ok(c) == _mod97_ref(c), c


def _resolve_ref(findings):
    from compliance.redaction.findings import TYPE_TIER, _rank

    if len(findings) < 2:
        return list(findings)
    fs = sorted(findings, key=lambda f: (f.start, -(f.end - f.start), -TYPE_TIER.get(f.type, 2)))
    kept, max_end = [], -1
    for f in fs:
        if f.end <= max_end:
            continue
        kept.append(f)
        max_end = f.end
    if len(kept) < 2:
        return kept
    out = []
    for f in sorted(kept, key=_rank, reverse=True):
        if all(f.end <= g.start or g.end <= f.start for g in out):
            out.append(f)
    out.sort(key=lambda f: f.start)
    return out


def test_resolve_overlaps_fast_path_equals_full_resolution():
    from compliance.redaction.findings import TYPE_TIER, Finding, resolve_overlaps

    rnd = random.Random(19)
    types = list(TYPE_TIER)
    for _ in range(20000):
        fs = []
        for _ in range(rnd.randint(0, 5)):
            a = rnd.randint(0, 30)
            fs.append(Finding(a, a + rnd.randint(-1, 10), rnd.choice(types), "d", rnd.choice([0.6, 0.9])))
        assert resolve_overlaps(fs) == _resolve_ref(fs), fs


# ----------------------------------------------------------------- phone pre-filter

_OTHER_REGIONS = ("AR", "JP", "CN", "RU", "ZA", "NG", "SE", "PL", "TR", "KR", "SG", "NZ", "IL", "AE", "SA")
_HEADS = ["", "0", "00", "1", "011", "01", "0049", "49", "44", "33", "34", "351", "55", "91", "39", "31"]
_HEADS += ["52", "61", "353", "41", "43", "32", "54", "9", "15", "07", "06", "02", "03", "04", "08", "09"]


def _random_phone_digits(rnd: random.Random) -> str:
    """7 to 15 digits, often led by a trunk, international or country code."""
    head = rnd.choice(_HEADS)
    return head + "".join(rnd.choice("0123456789") for _ in range(rnd.randint(7 - len(head), 15 - len(head))))


def _phone_valid_uncached(digits, region):
    return D._phone_valid.__wrapped__(digits, region)


def test_phone_prefilter_never_rejects_what_phonenumbers_accepts_on_random_digits():
    rnd = random.Random(20261128)
    regions = D.DEFAULT_REGIONS + _OTHER_REGIONS
    rejected = accepted = 0
    for _ in range(6000):
        digits = _random_phone_digits(rnd)
        region = rnd.choice(regions)
        valid = _phone_valid_uncached(digits, region)
        accepted += valid
        if not D._phone_possible(digits, region):
            rejected += 1
            assert not valid, (digits, region)
    assert accepted > 400  # the sample holds real numbers of many regions
    assert rejected > 4000  # and the filter spares most parses


def test_phone_prefilter_passes_every_regions_example_numbers():
    import phonenumbers
    from phonenumbers import PhoneNumberFormat

    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for name in D._MOBILE_LIKE_DESCS:
            example = phonenumbers.example_number_for_type(
                region, getattr(phonenumbers.PhoneNumberType, name.upper())
            )
            if example is None:
                continue
            for fmt in (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.E164):
                digits = "".join(c for c in phonenumbers.format_number(example, fmt) if c.isdigit())
                for hint in (region, *D.DEFAULT_REGIONS[:6]):
                    if _phone_valid_uncached(digits, hint):
                        assert D._phone_possible(digits, hint), (region, name, digits, hint)


def test_phone_type_check_alone_equals_validity_plus_type():
    import phonenumbers

    rnd = random.Random(7)
    regions = (*D.DEFAULT_REGIONS, *_OTHER_REGIONS, None)
    agreed = valid = 0
    for _ in range(4000):
        digits = _random_phone_digits(rnd)
        region = rnd.choice(regions)
        text = digits if region else "+" + digits
        try:
            num = phonenumbers.parse(text, region)
            expected = phonenumbers.is_valid_number(num) and phonenumbers.number_type(num) in D._MOBILE_LIKE
        except phonenumbers.NumberParseException:
            expected = False
        valid += expected
        agreed += _phone_valid_uncached(text, region) == expected
    assert valid > 300 and agreed == 4000


def test_gates_from_digit_runs_equal_their_regexes():
    # dates, years and Italian tax-code shapes, with separators, letters, Unicode digits and word
    # characters around them: the run-based gates must answer exactly as the regex scans
    rnd = random.Random(11)
    alphabet = "0123456789" * 4 + "./-" * 3 + "aZx_ é٣" + "19" * 3 + "20" * 3
    pieces = ["1990", "2024", "12.03.1988", "3/4/90", "RSSMRA85T10A562S", "85T10A562", "2019x", "1999_"]
    checked = hits = 0
    for _ in range(20000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 24)))
        if rnd.random() < 0.3:
            text += rnd.choice(pieces) + "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 3)))
        runs = D.prepass(text)[0]
        date = D._DATE_CHEAP.search(text) is not None
        cf = D._NID_CF_GATE.search(text) is not None
        assert D._date_possible(text, runs) == date, text
        assert D._nid_cf_possible(text, runs) == cf, text
        checked += 1
        hits += date + cf
    assert checked == 20000 and hits > 2000
