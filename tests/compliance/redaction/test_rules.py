import pytest

from compliance.redaction import Redactor
from compliance.redaction.rules import CustomRule, RuleSet


def test_regex_rule_with_context_and_group():
    r = CustomRule(
        name="emp",
        type="EMPLOYEE_ID",
        regex=r"\bE-(\d{6})\b",
        context_words=["employee"],
        examples_must_match=["employee E-123456"],
        examples_must_not_match=["E-123456 alone"],
    )
    r.validate()
    assert r.find("employee no E-123456") == [(14, 20)]


def test_validate_names_failing_example():
    r = CustomRule(
        name="proj",
        type="PROJECT",
        keywords=["bluebird"],
        examples_must_match=["project Bluebird", "project Redwing"],
    )
    with pytest.raises(ValueError, match="Redwing"):
        r.validate()
    r2 = CustomRule(name="proj", type="PROJECT", keywords=["bluebird"], examples_must_not_match=["bluebird!"])
    with pytest.raises(ValueError, match=r"must not match.*bluebird!"):
        r2.validate()


def test_invalid_regex_and_redos_guard():
    with pytest.raises(ValueError, match="invalid regex"):
        CustomRule(name="x", type="X", regex="(").validate()
    with pytest.raises(ValueError, match="nested quantifier"):
        CustomRule(name="x", type="X", regex=r"(a+)+$").validate()
    with pytest.raises(ValueError, match="regex or keywords"):
        CustomRule(name="x", type="X").validate()


def test_ruleset_allow_list_disable_and_custom():
    rs = RuleSet(
        rules=[CustomRule(name="code", type="SECRET", keywords=["opensesame"])],
        allow_list=["me@mine.org"],
        disabled_types=["IP_ADDRESS"],
    )
    rs.validate()
    r = Redactor(rules=rs)
    t = "me@mine.org you@yours.org 10.0.0.1 opensesame"
    got = [(t[f.start : f.end], f.type) for f in r.detect(t)]
    assert ("me@mine.org", "EMAIL") not in got
    assert ("you@yours.org", "EMAIL") in got
    assert not any(ty == "IP_ADDRESS" for _, ty in got)
    assert ("opensesame", "SECRET") in got


def test_keyword_rule_word_boundaries_and_allow():
    r = CustomRule(name="k", type="CODENAME", keywords=["falcon"], allow=["FALCON"], case_sensitive=True)
    assert r.find("falcon Falcon FALCON falconry") == [(0, 6)]
