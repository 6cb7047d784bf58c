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
