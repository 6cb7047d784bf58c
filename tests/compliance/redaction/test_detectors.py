import phonenumbers
import pytest

from compliance.redaction import Finding, Redactor, resolve_overlaps
from compliance.redaction.checksums import github_crc_ok, iban_mod97_ok, luhn_ok

R = Redactor(region_hints=["DE", "US"])


def types_of(text, r=R):
    return [(text[f.start : f.end], f.type) for f in r.detect(text)]


def has(text, value, type_, r=R):
    return (value, type_) in types_of(text, r)


def hit_any(text, value, r=R):
    s = text.index(value)
    e = s + len(value)
    return any(f.start < e and s < f.end for f in r.detect(text))


def _luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "7" * (length - len(prefix) - 1)
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError


# ---------------------------------------------------------------- EMAIL / URL
def test_email():
    assert has("mail me at Jo.Doe+x@Example.co.uk pls", "Jo.Doe+x@Example.co.uk", "EMAIL")
    assert not any(t == "EMAIL" for _, t in types_of("follow @someone_99 on insta"))


def test_url_and_secret_flag():
    t = "see https://example.org/a?b=1 and www.foo-bar.com/x."
    assert has(t, "https://example.org/a?b=1", "URL")
    assert has(t, "www.foo-bar.com/x", "URL")
    f = [x for x in R.detect("reset: https://app.example.com/r?token=abcDEF123456") if x.type == "URL"]
    assert f and f[0].detector == "url_secret_token"


def test_url_not_file_names():
    assert types_of("open main.py and notes.txt") == []


# ---------------------------------------------------------------- PHONE
@pytest.mark.parametrize("region", ["US", "GB", "DE", "FR", "ES", "BR", "IN"])
def test_phone_example_numbers(region):
    num = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    intl = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    text = f"call me on {intl} tonight"
    assert has(text, intl, "PHONE")


def test_phone_national_with_hint():
    r = Redactor(region_hints=["GB"])
    num = phonenumbers.example_number_for_type("GB", phonenumbers.PhoneNumberType.MOBILE)
    nat = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
    assert has(f"my new number is {nat}", nat, "PHONE", r)


@pytest.mark.parametrize(
    "text,value",
    [
        ("see u at 1700000123 ok", "1700000123"),  # epoch timestamp
        ("meeting at 2024-11-07 13:03:45", "2024-11-07"),  # timestamp
        ("order no 123-4567890-1234567 shipped", "123-4567890-1234567"),
        ("it was $1,234.99 lol", "1,234.99"),
        ("class of 2004 reunion", "2004"),
    ],
)
def test_phone_false_positives(text, value):
    assert not hit_any(text, value)


# ---------------------------------------------------------------- CARDS
@pytest.mark.parametrize(
    "prefix,length",
    [
        ("4", 16),
        ("4", 19),
        ("51", 16),
        ("2221", 16),
        ("2720", 16),
        ("34", 15),
        ("6011", 16),
        ("3530", 16),
        ("36", 14),
    ],
)
def test_card_brands(prefix, length):
    d = _luhn_complete(prefix, length)
    assert has(f"card {d} exp 09/27", d, "CREDIT_CARD")
    grouped = " ".join(d[i : i + 4] for i in range(0, len(d), 4))
    assert has(f"my card: {grouped}", grouped, "CREDIT_CARD")
    dashed = grouped.replace(" ", "-")
    assert has(f"visa {dashed} thx", dashed, "CREDIT_CARD")


def test_card_luhn_failure_and_tracking():
    d = _luhn_complete("4", 16)
    bad = d[:-1] + str((int(d[-1]) + 1) % 10)
    assert not hit_any(f"booking ref {bad} for the hotel", bad)
    assert not hit_any(f"card {bad}", bad)
    assert not hit_any("tracking 9400 1000 0000 0000 0000 00 out for delivery", "9400 1000 0000 0000 0000 00")


# ---------------------------------------------------------------- IBAN
def test_iban():
    assert iban_mod97_ok("DE89370400440532013000")
    assert has("iban DE89 3704 0044 0532 0130 00 thx", "DE89 3704 0044 0532 0130 00", "IBAN")
    assert has("iban: gb29nwbk60161331926819.", "gb29nwbk60161331926819", "IBAN")
    assert not hit_any("old iban DE88 3704 0044 0532 0130 00 closed", "DE88 3704 0044 0532 0130 00")


# ---------------------------------------------------------------- SSN / national ids
def test_ssn():
    assert has("my SSN is 536-22-8714", "536-22-8714", "US_SSN")
    assert has("ssn 536228714", "536228714", "US_SSN")
    for bad in ("000-22-8714", "666-22-8714", "912-22-8714", "536-00-8714", "536-22-0000"):
        assert not any(t == "US_SSN" for _, t in types_of(f"ssn {bad}")), bad
    assert not any(t == "US_SSN" for _, t in types_of("order 536228714 shipped"))


def test_national_ids():
    assert has("CPF 390.533.447-05 ok", "390.533.447-05", "NATIONAL_ID")
    assert has("mi DNI es 12345678Z", "12345678Z", "NATIONAL_ID")
    assert not any(t == "NATIONAL_ID" for _, t in types_of("mi DNI es 12345678A"))


# ---------------------------------------------------------------- IP
def test_ip():
    assert has("server is at 10.2.3.4 now", "10.2.3.4", "IP_ADDRESS")
    assert has("ip 2001:db8::8a2e:370:7334", "2001:db8::8a2e:370:7334", "IP_ADDRESS")
    assert has("router at http://192.168.0.1 btw", "192.168.0.1", "IP_ADDRESS")


@pytest.mark.parametrize(
    "text",
    [
        "updated to v1.2.3.4 today",
        "update to 4.2.13.146 fixed it",
        "still on ios 14.8.9 lol",
        "version 2.10.3.1 is out",
        "at 17:29 ok",
        "mac aa:bb:cc:dd:ee:ff",
    ],
)
def test_ip_versions_not_ip(text):
    assert not any(t == "IP_ADDRESS" for _, t in types_of(text))


# ---------------------------------------------------------------- SECRETS
def test_vendor_secrets():
    aws = "AKIA" + "Q" * 4 + "2345ABCDWXYZ"
    assert has(f"key {aws}", aws, "SECRET")
    stripe = "sk_live_" + "a1B2c3D4e5F6g7H8i9J0"
    assert has(f"stripe {stripe}", stripe, "SECRET")
    goog = "AIza" + "Sy" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
    assert has(f"key: {goog}", goog, "SECRET")
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX3ZhbHVlXzEyMw"
    assert has(f"session {jwt}", jwt, "SECRET")
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
    assert has(f"here {pem}", pem, "SECRET")


def test_github_crc():
    import zlib

    body = "A" * 15 + "b" * 15
    n = zlib.crc32(body.encode())
    b62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    chk = ""
    for _ in range(6):
        n, r = divmod(n, 62)
        chk = b62[r] + chk
    tok = "ghp_" + body + chk
    assert github_crc_ok(tok)
    assert not github_crc_ok(tok[:-1] + ("0" if tok[-1] != "0" else "1"))
    f = [x for x in R.detect(f"token {tok}") if x.type == "SECRET"]
    assert f and f[0].confidence > 0.9


@pytest.mark.parametrize(
    "text,value",
    [
        ("pw: Hunter2!", "Hunter2!"),
        ("the wifi password is tiger-lily77", "tiger-lily77"),
        ("mein passwort ist Sommer2024#", "Sommer2024#"),
        ("le mot de passe c'est chat.noir12", "chat.noir12"),
        ("la contraseña es perro_azul9", "perro_azul9"),
        ("a senha é gatinho2020", "gatinho2020"),
        ("PIN is 4821", "4821"),
        ("door code 55123", "55123"),
        ("pasword: zebra99x", "zebra99x"),
    ],
)
def test_chat_passwords(text, value):
    assert has(text, value, "SECRET")


@pytest.mark.parametrize(
    "text",
    [
        "fixed in 4aa40b577ff124f46b48b2cf0e67609186233ca3, pull again",
        "request id 8b8cce82-5fc4-401a-a7ac-1df214dc8166 if support asks",
        "password reset link sent",
        "voucher code 12345678 didnt work",
        "#throwback @someone",
    ],
)
def test_secret_false_positives(text):
    assert not any(t == "SECRET" for _, t in types_of(text))


# ---------------------------------------------------------------- DOB / ADDRESS / PERSON
@pytest.mark.parametrize(
    "text,value",
    [
        ("born on 04/07/1999", "04/07/1999"),
        ("dob 1961-02-17", "1961-02-17"),
        ("geb. am 2. April 1968", "2. April 1968"),
        ("née le 07/08/1968", "07/08/1968"),
        ("fecha de nacimiento: 8 de marzo de 1990", "8 de marzo de 1990"),
        ("data de nascimento: 17 de janeiro de 1985", "17 de janeiro de 1985"),
        ("my birthday is May 3, 1948", "May 3, 1948"),
    ],
)
def test_dob(text, value):
    assert has(text, value, "DATE_OF_BIRTH")


def test_dates_without_context_are_not_dob():
    assert types_of("meeting moved to 04/07/2025") == []


@pytest.mark.parametrize(
    "text,value",
    [
        (
            "send it to 4400 Oak Avenue Apt 16C, Tampa, FL 33610 thx",
            "4400 Oak Avenue Apt 16C, Tampa, FL 33610",
        ),
        ("im at 12 Kings Road, Leeds LS6 2ZD", "12 Kings Road, Leeds LS6 2ZD"),
        ("neue adresse Lindenstraße 12a, 10115 Berlin", "Lindenstraße 12a, 10115 Berlin"),
        ("nouvelle adresse 5 rue de la Paix, 75002 Paris", "5 rue de la Paix, 75002 Paris"),
        ("nueva dirección: Calle Mayor 5, 28013 Madrid", "Calle Mayor 5, 28013 Madrid"),
        ("endereço: Rua Augusta 120, 1100-053 Lisboa", "Rua Augusta 120, 1100-053 Lisboa"),
    ],
)
def test_address(text, value):
    assert has(text, value, "STREET_ADDRESS")


def test_known_names_and_heuristics():
    r = Redactor(known_names=["Zorblat Quux"])
    assert has("ask zorblat quux about it", "zorblat quux", "PERSON", r)
    assert has("my landlord is Jennifer Walsh", "Jennifer Walsh", "PERSON")
    assert has("Hallo Katharina, wie gehts", "Katharina", "PERSON")
    assert not any(t == "PERSON" for _, t in types_of("Will you mark it in May?"))


def test_person_model_plugin():
    class Fake:
        def find_persons(self, text):
            return [(0, 3, 0.9)]

    r = Redactor(person_model=Fake(), person_heuristics=False)
    assert has("Xyz went home", "Xyz", "PERSON", r)


def test_overlaps_keep_longest():
    fs = [
        Finding(0, 10, "URL", "u", 0.9),
        Finding(2, 5, "PERSON", "p", 0.7),
        Finding(8, 14, "PHONE", "x", 0.8),
    ]
    out = resolve_overlaps(fs)
    assert [(f.start, f.end) for f in out] == [(0, 10)]


def test_enabled_types():
    r = Redactor(enabled=["EMAIL"])
    assert types_of("a@b.com 10.0.0.1", r) == [("a@b.com", "EMAIL")]
