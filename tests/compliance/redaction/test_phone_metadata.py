"""Phone validation straight from phonenumbers' metadata (``detectors._phone_valid``) decides
exactly as ``phonenumbers.parse`` + ``number_type`` do, for every region, on the strings the
phone detector passes: bare ASCII digits with a region, or "+" and digits without one."""

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat

from compliance.redaction import detectors as D

_REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
# leads that exercise trunk prefixes, international prefixes (00, 011, 010, 0011), country codes
# (NANP, Germany, Brazil, non-geographic 800/870/882) and the national-prefix transform rules
_HEADS = ["", "0", "00", "1", "011", "010", "0011", "49", "0049", "44", "55", "90", "015", "0800"]
_HEADS += ["800", "870", "882", "7", "86", "81", "54", "549", "011549", "39", "06", "09", "3", "9"]


def fast(number: str, region: str | None) -> bool:
    return D._phone_valid.__wrapped__(number, region)


def reference(number: str, region: str | None) -> bool:
    return D._phone_valid_by_phonenumbers(number, region)


def _digits(num: phonenumbers.PhoneNumber, fmt: int) -> str:
    return "".join(c for c in phonenumbers.format_number(num, fmt) if c.isdigit())


def _examples() -> list[tuple[str, str]]:
    """(region, digits) of every example number of every type, written nationally and in E.164."""
    out = []
    for region in _REGIONS:
        for number_type in range(12):
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is not None:
                out.append((region, _digits(example, PhoneNumberFormat.NATIONAL)))
                out.append((region, _digits(example, PhoneNumberFormat.E164)))
    return out


def test_random_digits_in_every_region_decide_as_phonenumbers():
    rnd = random.Random(20261128)
    regions = [*_REGIONS, None, "XX"]  # None: "+" and digits; "XX": not a region
    valid = 0
    for _ in range(20000):
        head = rnd.choice(_HEADS)
        digits = head + "".join(rnd.choice("0123456789") for _ in range(rnd.randint(0, 16 - len(head))))
        if len(digits) < 3:
            continue
        region = rnd.choice(regions)
        number = digits if region is not None else "+" + digits
        expected = reference(number, region)
        valid += expected
        assert fast(number, region) == expected, (number, region)
    assert valid > 500  # the sample holds valid numbers, not only rejects


def test_every_example_number_decides_as_phonenumbers_under_several_hints():
    cases = 0
    for region, digits in _examples():
        for hint in (region, "US", "DE", "GB", "BR", "AR", None):
            number = digits if hint is not None else "+" + digits
            assert fast(number, hint) == reference(number, hint), (number, hint)
            cases += 1
    for cc in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        example = phonenumbers.example_number_for_non_geo_entity(cc)
        if example is not None:
            number = "+" + _digits(example, PhoneNumberFormat.E164)
            assert fast(number, None) == reference(number, None), number
            cases += 1
    assert cases > 19000


def test_near_misses_of_example_numbers_decide_as_phonenumbers():
    # one to three edits of a real number: the cases where length rules, national prefixes and
    # the type patterns decide, rather than a hopeless prefix
    rnd = random.Random(5)
    examples = _examples()
    valid = 0
    for _ in range(20000):
        region, digits = rnd.choice(examples)
        chars = list(digits)
        for _ in range(rnd.randint(0, 3)):
            k = rnd.randrange(len(chars) + 1)
            op = rnd.random()
            if op < 0.4 and chars:
                chars[min(k, len(chars) - 1)] = rnd.choice("0123456789")
            elif op < 0.7:
                chars.insert(k, rnd.choice("0123456789"))
            elif chars:
                del chars[min(k, len(chars) - 1)]
        digits = "".join(chars)
        if len(digits) < 3:
            continue
        hint = rnd.choice([region, region, None, rnd.choice(_REGIONS)])
        number = digits if hint is not None else "+" + digits
        expected = reference(number, hint)
        valid += expected
        assert fast(number, hint) == expected, (number, hint)
    assert valid > 3000


@pytest.mark.parametrize(
    "number, region, valid",
    [
        ("01711234567", "DE", True),  # German mobile, trunk 0 stripped
        ("+4915112345678", None, True),
        ("1234567890", "US", False),  # no area code 123
        ("6502530000", "US", True),
        ("01161298765432", "US", True),  # US international prefix 011, then Australia
        ("+99912345678", None, False),  # no such country code
        ("0111234", "AR", False),
        ("+80012345678", None, True),  # non-geographic freephone
        ("+80812345678", None, False),  # non-geographic shared cost: not a person's line
        ("1234567", "XX", False),  # not a region, no "+"
    ],
)
def test_known_numbers(number, region, valid):
    assert fast(number, region) is valid
    assert reference(number, region) is valid
