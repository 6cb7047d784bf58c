"""The fast paths must find exactly what the straightforward code finds.

* Unit equivalences: each single-scan replacement of a per-digit-run / per-word Python loop
  against the loop it replaced (kept here as the reference), on random spliced texts.
* Whole-engine equivalence: ``equivalence_golden.json`` holds, per text, a fingerprint of the
  raw findings (offsets, type, detector, confidence, in order) of four Redactor configurations,
  recorded with the engine *before* the single-pass rewrite. Texts: the dev corpus, seeded
  splices of corpus texts and synthetic DM sentences. Only fingerprints are stored (no corpus
  text). Texts whose hash is not in the file are skipped, so a changed corpus or generator
  cannot fail the test; a changed fingerprint can only come from changed detection.
  When detection is *meant* to change, regenerate: ``python tests/compliance/redaction/test_equivalence.py``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from pathlib import Path

import pytest

from compliance.redaction import Redactor
from compliance.redaction import detectors as D

CORPUS = Path("/work/shared/pii-eval/dev-corpus.jsonl")
GOLDEN = Path(__file__).with_name("equivalence_golden.json")

_PIECES = [
    "call me +49 (0) 171 2345678",
    "card 4111 1111 1111 1111 exp 12/29",
    "ssn 123-45-6789",
    "IBAN DE89 3704 0044 0532 0130 00",
    "de89370400440532013000",
    "2024-05-06",
    "Hauptstraße 5, 10115 Berlin",
    "Berliner Str.  12",
    "Am Markt 3",
    "wohne in der Gartenweg 7a",
    "12bis rue de Rivoli",
    "12 Rue de la Paix",
    "221B Baker Street",
    "4, Elm St",
    "Calle Mayor 12, 28013 Madrid",
    "Rua Augusta 100",
    "pin: 4821",
    "thx Anna Schmidt",
    "lea becker und tom",
    "Jean-Luc Picard",
    "O’Brien",
    "hey Mia!",
    "x",
    "",
    "12345 ",
    "99999 Main",
    "7 Ávila",
    "RSSMRA85T10A562S",
    "cf rssmra85t10a562s",
    "GB82 WEST 1234 5698 7654 32",
    "GB82WEST12345698765432x",
    "FR14 2004 1010 0505 0001 3M02 606",
    "NL91ABNA0417164300  99",
]


def _random_texts(n=600, seed=11):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        parts = rnd.sample(_PIECES, rnd.randint(1, 4))
        seps = [rnd.choice([" ", ", ", "  ", ".", "\n", " and ", "-", "", " " * 58]) for _ in parts]
        out.append("".join(p + s for p, s in zip(parts, seps, strict=True)))
    return out


# ----------------------------------------------------------------- unit equivalences


def test_iban_candidates_equal_run_loop():
    for t in _random_texts():
        pre = D.prepass(t)
        ref = []
        last = -1
        for s, e in pre[0]:
            if e - s < 2 or s < 2 or s - 2 < last or t[s - 2 : s].upper() not in D.IBAN_LENGTHS:
                continue
            m = D._IBAN.match(t, s - 2)
            if m is not None:
                last = m.end()
                ref.append(m.span())
        assert [m.span() for m in D._iban_candidates(t, pre)] == ref, t


def _ref_iban_body(text, start, need):
    i, got = start, []
    while i < len(text) and len(got) < need:
        ch = text[i]
        if ch == " ":
            if i + 1 < len(text) and text[i + 1] == " ":
                break
            i += 1
            continue
        if not ch.isalnum() or not ch.isascii():
            break
        got.append(ch)
        i += 1
    return (i, "".join(got)) if len(got) == need else None


def test_iban_body_regex_equals_character_walk():
    for t in [*_random_texts(), "AB12 c d  e", "DE89 3704 0044 0532 0130 00 ", "x1 ²3"]:
        for start in range(len(t)):
            for need in (4, 11, 18, 20):
                D.detect_iban(t, t.lower(), None)  # fills the per-length cache
                rx = D._IBAN_BODY.get(need) or re.compile(rf"(?: ?[A-Za-z0-9]){{{need}}}")
                m = rx.match(t, start)
                got = None if m is None else (m.end(), m.group(0).replace(" ", ""))
                assert got == _ref_iban_body(t, start, need), (t, start, need)


def test_windowed_gates_equal_whole_text():
    for t in _random_texts():
        pre = D.prepass(t)
        assert D._scan_any(D._NID_CF_GATE, t, pre, 7) == (D._NID_CF_GATE.search(t) is not None), t
        assert D._scan_any(D._DATE_CHEAP, t, pre, 2) == bool(D._scan(D._DATE_CHEAP, t, pre, 2)), t


def test_rare_anchored_anyof_is_substring_any():
    words = ("ghp_", "sk-", "eyJ", "AKIA", "-----BEGIN", "discord", "clé", "a.b", "x|y", "pw")
    f = D._anyof_rare(words)
    for s in (
        "ghp_x",
        "ghp",
        "task-",
        "heyJo",
        "AKIAX",
        "-----BEGINS",
        "discord",
        "cle",
        "clé",
        "a.b",
        "axb",
        "x|y",
        "pw",
        "p w",
        "",
        "nothing",
    ):
        assert (f(s) is not None) == any(w in s for w in words), s


def _expected_gates(text: str, lower: str) -> int:
    expected = 0
    for lists, s in ((D._LOWER_GATE_LISTS, lower), (D._TEXT_GATE_LISTS, text)):
        for bit, words in lists:
            if any(w in s for w in words):
                expected |= bit
    return expected


def test_word_gates_say_exactly_which_lists_occur():
    # two automaton passes must answer "any(w in s for w in words)" for every list, with
    # overlapping words ("passwort" holds "pas", "ssw", "swor", "wort"), at the text's edges
    for lists in (D._LOWER_GATE_LISTS, D._TEXT_GATE_LISTS):
        for bit, words in lists:
            for w in words:
                for s in (w, "xx " + w + " yy", "x" + w, w + "x"):
                    assert D.word_gates(s, s) & bit, (w, s)
    rnd = random.Random(3)
    vocabulary = [w for lists in (D._LOWER_GATE_LISTS, D._TEXT_GATE_LISTS) for _bit, ws in lists for w in ws]
    vocabulary += ["a", "é", " ", "\t", "\u00a0", "1", "x", "Rue", "St."]
    texts = [*_random_texts(), "", "passwort", "geb.datum", "d.o.b 1990", "5\u2009rue x", "Calle Mayor 12"]
    texts += ["".join(rnd.choice(vocabulary)[: rnd.randint(1, 8)] for _ in range(8)) for _ in range(3000)]
    for t in texts:
        lower = t.lower()
        expected = _expected_gates(t, lower)
        assert D.word_gates(t, lower) == expected, t
        assert D.prepass(t)[3] == expected, t


def test_whitespace_list_is_every_character_re_calls_whitespace():
    # the French street-type bit spells "\s" out as characters: all of them, none beyond
    every = tuple(c for c in map(chr, range(0x110000)) if re.match(r"\s", c))
    assert every == D._WHITESPACE


def test_french_gate_equals_its_regex():
    rx = re.compile(r"\s" + D._trie_pattern(D._FR_TYPE_WORDS))
    for t in [*_random_texts(), *_ADDRESS_EDGES, "x\u3000rue", "trueroute", "a\nallée"]:
        lower = t.lower()
        assert bool(D.word_gates(t, lower) & D._G_FR) == (rx.search(lower) is not None), t


def test_class_first_patterns_equal_plain_repeats():
    # "\d\d*" / "[..][..]*" start with a class so sre can skip in C; same matches as "+"
    extra = ["١٢٣ x ٤", "²³ 12", "ab-cd éf-gh_ij", "a--b", "x1y22z333", "-", "", "Straße-Nord 5"]
    for t in [*_random_texts(), *extra]:
        for new, old in (
            (D._DIGIT_RUNS, r"\d+"),
            (D._TOKWORD, r"[^\W\d_]+(?:-[^\W\d_]+)?"),
            (D._TOKWORD_ASCII, r"[A-Za-z]+(?:-[A-Za-z]+)?"),
        ):
            for s in (t, t.lower()):
                assert [m.span() for m in new.finditer(s)] == [m.span() for m in re.finditer(old, s)], s


def _ref_detect_address(text, lower):
    """detect_address before the whole-text street-type gates (every number tried)."""
    runs = D.prepass(text)[0]
    if not runs:
        return []
    rules = []
    en_ascii, en_starts, fr_starts = False, [], []
    for s, e in runs:
        if e - s > 5:
            continue
        m = D._EN_TAIL.match(text, e)
        if m is not None and (m.group(1).isupper() or m.group(1).isdigit()):
            en_starts.append(s)
            en_ascii = en_ascii or m.group(1).isascii()
        if e - s <= 4 and D._FR_NEAR.match(lower, e) is not None:
            fr_starts.append(s)
    if en_ascii:
        rules.append(("addr_en", D._anchored(D._EN_ADDR, text, en_starts)))
    lead = D._any_in(text, D._DE_LEADS)
    for s, _e in runs:
        if s == 0 or not text[s - 1].isspace():
            continue
        before = text[max(0, s - 60) : s]
        if before.rstrip().endswith(D._DE_SUFFIXES) or (lead and D._any_in(before, D._DE_LEADS)):
            rules.append(("addr_de", D._DE_ADDR.finditer(text)))
            break
    if fr_starts:
        rules.append(("addr_fr", D._anchored(D._FR_ADDR, text, fr_starts)))
    if D._any_in(text, D._IB_LITERALS):
        rules.append(("addr_ib", D._IB_ADDR.finditer(text)))
    return [(name, m.span()) for name, ms in rules for m in ms]


_ADDRESS_EDGES = [
    "12 Baker St",  # the English gate's street type ends the text
    "meet at 4, Elm St.",
    "221B Baker Street",
    "12 Main Street, Springfield, IL 62701",
    "5 rue de Rivoli",  # the French gate: whitespace then the type
    "12bis rue de Rivoli",
    "7 av. Foch",
    "3,\tboulevard Haussmann",
    "Hauptstraße 5",  # German suffix right before the number's whitespace
    "Gartenweg 7a",
    "Am Markt 3",  # German lead word only
    "Unter den Linden 77",
    "Berliner Str.  12",
    "Hauptstraße" + " " * 58 + "5",  # a gap as long as the window
    "Calle Mayor 12, 28013 Madrid",
    "Rua Augusta 100",
]


def test_address_gates_skip_nothing():
    texts = [*_random_texts(), *_ADDRESS_EDGES]
    texts += [p + " " + q for p in _ADDRESS_EDGES for q in ("", "x", "12345 Bergweg", "In")]
    for t in texts:
        for s in (t, t.lower(), t.upper()):
            lo = s.lower()
            got = [(f.detector, (f.start, f.end)) for f in D.detect_address(s, lo, None)]
            ref = _ref_detect_address(s, lo)
            # (detect_address trims trailing " ,." from its spans: compare the untrimmed starts)
            assert [(n, a) for n, (a, _b) in got] == [(n, a) for n, (a, _b) in ref], s
    for t in _ADDRESS_EDGES[:12]:  # each found on its own
        assert [f for f in D.detect_address(t, t.lower(), None)], t


# ----------------------------------------------------------------- whole engine


def _redactors():
    return [
        Redactor(region_hints=["DE", "US"]),
        Redactor(),
        Redactor(known_names=["Ana Souza", "bob"]),
        Redactor(enabled=["PERSON", "SECRET"]),
    ]


def _h(s: str) -> str:
    return hashlib.sha1(s.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _fingerprint(rs, text: str) -> str:
    raw = [[(f.start, f.end, f.type, f.detector, f.confidence) for f in r.detect_raw(text)] for r in rs]
    return _h(json.dumps(raw))


def _texts() -> list[str]:
    texts = list(_random_texts())
    if CORPUS.exists():
        with CORPUS.open(encoding="utf-8") as f:
            corpus = [json.loads(line)["text"] for line in f if line.strip()]
        rnd = random.Random(3)
        spliced = []
        for _ in range(2000):
            parts = rnd.sample(corpus, rnd.randint(2, 3))
            cut = [p[: rnd.randint(0, len(p))] if rnd.random() < 0.3 else p for p in parts]
            spliced.append(rnd.choice([" ", "\n", ". ", ", ", ""]).join(cut))
        texts += corpus + spliced
    try:
        from archive.synthetic import Generator
    except ImportError:  # pragma: no cover
        pass
    else:
        g = Generator(seed=5)
        texts += [g.sentence() for _ in range(1500)]
    return texts


@pytest.mark.skipif(not GOLDEN.exists(), reason="no golden fingerprints")
def test_engine_matches_recorded_fingerprints():
    golden = json.loads(GOLDEN.read_text())
    rs = _redactors()
    checked, bad = 0, []
    for t in _texts():
        want = golden.get(_h(t))
        if want is None:
            continue
        checked += 1
        if _fingerprint(rs, t) != want:
            bad.append(t)
    assert checked >= 500
    assert not bad, [re.sub(r"\s+", " ", b)[:120] for b in bad[:5]]


if __name__ == "__main__":  # regenerate the golden fingerprints with the current engine
    rs = _redactors()
    GOLDEN.write_text(json.dumps({_h(t): _fingerprint(rs, t) for t in _texts()}, sort_keys=True) + "\n")
    print("wrote", GOLDEN, file=sys.stderr)
