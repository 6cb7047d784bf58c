import pytest

from compliance.redaction import Finding, Redactor
from compliance.redaction.modes import Policy, redact

KEY = b"k" * 32


def _f(text, value, type_):
    s = text.index(value)
    return Finding(s, s + len(value), type_, "t", 1.0)


def test_label():
    t = "mail a@x.com now"
    assert redact(t, [_f(t, "a@x.com", "EMAIL")]).text == "mail [EMAIL] now"


def test_mask_keeps_last4_and_separators():
    t = "card 4111 1111 1111 1111 ok"
    out = redact(t, [_f(t, "4111 1111 1111 1111", "CREDIT_CARD")], Policy(default_mode="mask")).text
    assert out == "card •••• •••• •••• 1111 ok"


def test_pseudonym_stable_and_normalised():
    p = Policy(default_mode="pseudonymize", hmac_key=KEY)
    a = redact("A@X.com", [Finding(0, 7, "EMAIL", "t", 1)], p).text
    b = redact("a@x.com", [Finding(0, 7, "EMAIL", "t", 1)], p).text
    c = redact("b@x.com", [Finding(0, 7, "EMAIL", "t", 1)], p).text
    assert a == b != c
    assert a.startswith("[EMAIL:") and len(a) == len("[EMAIL:12345678]")
    other = redact(
        "a@x.com", [Finding(0, 7, "EMAIL", "t", 1)], Policy(default_mode="pseudonymize", hmac_key=b"z" * 32)
    ).text
    assert other != a
    with pytest.raises(ValueError):
        redact("a@x.com", [Finding(0, 7, "EMAIL", "t", 1)], Policy(default_mode="pseudonymize"))


def test_phone_pseudonym_ignores_formatting():
    p = Policy(default_mode="pseudonymize", hmac_key=KEY)
    x = redact("+49 171 1234567", [Finding(0, 15, "PHONE", "t", 1)], p).text
    y = redact("+491711234567", [Finding(0, 13, "PHONE", "t", 1)], p).text
    assert x == y


def test_remove_and_keep_per_type():
    t = "a@x.com 10.0.0.1"
    fs = [_f(t, "a@x.com", "EMAIL"), _f(t, "10.0.0.1", "IP_ADDRESS")]
    out = redact(t, fs, Policy(default_mode="remove", per_type={"IP_ADDRESS": "keep"}))
    assert out.text == " 10.0.0.1"


def test_tokenize_returns_pairs():
    ids = iter(["t1", "t2"])
    t = "x a@x.com y b@y.org"
    fs = [_f(t, "a@x.com", "EMAIL"), _f(t, "b@y.org", "EMAIL")]
    res = redact(t, fs, Policy(default_mode="tokenize", token_id_factory=lambda: next(ids)))
    assert res.text == "x [TOK:t1] y [TOK:t2]"
    assert res.tokens == [("t1", "a@x.com"), ("t2", "b@y.org")]


def test_offsets_with_emoji_and_combining():
    t = "👩‍👩‍👧 e\u0301te\u0301 mail me: jo@x.com 🎉 ok"
    fs = Redactor().detect(t)
    assert [t[f.start : f.end] for f in fs] == ["jo@x.com"]
    assert redact(t, fs).text == "👩‍👩‍👧 e\u0301te\u0301 mail me: [EMAIL] 🎉 ok"


def test_overlapping_findings_union():
    t = "visit https://x.com/u/jo@x.com"
    fs = [_f(t, "https://x.com/u/jo@x.com", "URL"), _f(t, "jo@x.com", "EMAIL")]
    assert redact(t, fs).text == "visit [URL]"


def test_bad_mode_and_range():
    with pytest.raises(ValueError):
        redact("abc", [Finding(0, 2, "EMAIL", "t", 1)], Policy(default_mode="nope"))
    with pytest.raises(ValueError):
        redact("abc", [Finding(0, 9, "EMAIL", "t", 1)])
