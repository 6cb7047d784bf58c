"""The compiled redaction core: used when current, identical in what it finds, never stale."""

import importlib.machinery
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from compliance.redaction import core
from compliance.redaction import detectors as compiled_or_python
from compliance.redaction.bench import dm_mix
from compliance.redaction.rules import CustomRule, RuleSet

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "pii-eval" / "dev-corpus.jsonl"
PROJECT = Path(__file__).resolve().parents[3]

HOSTILE = [
    "",
    " ",
    "\n\n\n",
    "İstanbul ẞtraße ǅemal ﬁnance: card 4111 1111 1111 1111",  # case mapping changes lengths
    "a" * 5000,
    "1" * 3000,
    "@" * 500 + ".com",
    "call " + "+49 " * 300,
    "Ωμέγα 😀 " * 200 + "ssn 123-45-6789",
    "x@y." + "z" * 1000,
]


@pytest.fixture(scope="module")
def python_core():
    """The same detectors.py, executed as plain Python under another module name."""
    name = "compliance.redaction._detectors_as_python"
    module = core.load_python_core(name)
    yield module
    sys.modules.pop(name, None)


def corpus_texts() -> list[str]:
    with CORPUS.open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def spans(redactor, texts):
    return [[(f.start, f.end, f.type, f.detector, f.confidence) for f in redactor.detect(t)] for t in texts]


def test_the_installed_test_run_uses_the_compiled_core():
    # `make test` builds it (bin/test); a stale or missing build would fall back silently.
    in_use = core.STATUS
    assert in_use == core.CoreStatus(True, "compiled", core.extension_path())
    assert compiled_or_python.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def test_compiled_and_python_cores_find_the_same_spans_on_the_corpus_and_a_dm_mix(python_core):
    texts = corpus_texts()
    texts += dm_mix(texts, n=3000, seed=5) + HOSTILE
    compiled = compiled_or_python.Redactor(region_hints=["DE", "GB"])
    plain = python_core.Redactor(region_hints=["DE", "GB"])
    found_compiled = spans(compiled, texts)
    assert found_compiled == spans(plain, texts)
    assert sum(map(len, found_compiled)) > 3000  # the comparison covers real findings


def test_known_names_rules_and_disabled_types_behave_the_same_in_both_cores(python_core):
    rules = RuleSet(
        rules=[CustomRule(name="ticket", type="TICKET", regex=r"TCK-\d{6}")],
        allow_list=["ada@example.org"],
        disabled_types=["EMAIL"],
    )
    texts = ["Ticket TCK-123456 for Ada Quinlan, mail ada@example.org", "call ada quinlan on 0171 2345678"]
    kwargs = {"known_names": ["Ada Quinlan"], "enabled": ["PERSON", "PHONE", "EMAIL"], "rules": rules}
    found = spans(compiled_or_python.Redactor(**kwargs), texts)
    assert found == spans(python_core.Redactor(**kwargs), texts)
    assert {f[2] for row in found for f in row} == {"TICKET", "PERSON", "PHONE"}


def _fake_package(tmp_path: Path, source: str = "X = 1\n") -> Path:
    (tmp_path / core.SOURCE_NAME).write_text(source)
    return tmp_path


def test_a_core_built_from_the_current_source_is_used(tmp_path):
    pkg = _fake_package(tmp_path)
    (pkg / ("detectors" + importlib.machinery.EXTENSION_SUFFIXES[0])).write_bytes(b"\x7fELF")
    (pkg / core.STAMP_NAME).write_text(core.source_digest(pkg) + "\n")
    assert core.status(pkg, environ={}).compiled


def test_a_core_built_from_an_older_source_is_ignored(tmp_path):
    pkg = _fake_package(tmp_path)
    (pkg / ("detectors" + importlib.machinery.EXTENSION_SUFFIXES[0])).write_bytes(b"\x7fELF")
    (pkg / core.STAMP_NAME).write_text(core.source_digest(pkg) + "\n")
    (pkg / core.SOURCE_NAME).write_text("X = 2  # edited after the build\n")
    current = core.status(pkg, environ={})
    assert not current.compiled
    assert current.reason.startswith("stale")


def test_a_core_without_its_stamp_is_ignored(tmp_path):
    pkg = _fake_package(tmp_path)
    (pkg / ("detectors" + importlib.machinery.EXTENSION_SUFFIXES[0])).write_bytes(b"\x7fELF")
    assert core.status(pkg, environ={}).reason.startswith("stale")


def test_no_build_means_plain_python(tmp_path):
    assert core.status(_fake_package(tmp_path), environ={}) == core.CoreStatus(False, "not built", None)


def test_an_operator_can_force_the_python_core(tmp_path):
    pkg = _fake_package(tmp_path)
    (pkg / ("detectors" + importlib.machinery.EXTENSION_SUFFIXES[0])).write_bytes(b"\x7fELF")
    (pkg / core.STAMP_NAME).write_text(core.source_digest(pkg) + "\n")
    forced = core.status(pkg, environ={"DMVAULT_REDACTION_CORE": "python"})
    assert not forced.compiled
    assert "DMVAULT_REDACTION_CORE" in forced.reason


def test_a_forced_python_core_is_what_the_process_imports_and_it_still_redacts():
    code = (
        "import compliance.redaction as r, compliance.redaction.detectors as d;"
        "print(r.core.STATUS.compiled, d.__file__.endswith('.py'),"
        " [f.type for f in r.Redactor().detect('mail ada@example.org')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        env={"DMVAULT_REDACTION_CORE": "python", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "False True ['EMAIL']"


def test_the_build_command_reports_a_current_core_without_rebuilding():
    out = subprocess.run(
        [sys.executable, "-m", "compliance.redaction.build_core", "--check"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )
    assert (out.returncode, out.stdout.strip()) == (0, "redaction core: compiled")


def test_the_system_check_warns_when_the_core_is_not_compiled(monkeypatch):
    from dmvault.ops.checks import check_redaction_core

    assert check_redaction_core() == []
    monkeypatch.setattr(core, "STATUS", core.CoreStatus(False, "not built", None))
    [warning] = check_redaction_core()
    assert warning.id == "dmvault_ops.W002"
    assert "not built" in warning.msg
    assert "make install" in warning.hint


# The compiled core walks characters in C where plain Python runs a regex (cython.compiled):
# both ways must give the regex's answer on every character there is and on random mixtures.


def _all_of_unicode_in_chunks(size: int = 5000):
    chars = "".join(map(chr, range(0x110000)))
    return [chars[i : i + size] for i in range(0, len(chars), size)]


def _random_mixtures(n: int = 20000):
    rnd = random.Random(29)
    alphabet = "aZ9 0٣۵߀’'-_×÷ÀÖØöøÿĀžſé.\n\U0001f600\u00a0x"
    return ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 14))) for _ in range(n)]


def test_digit_runs_walk_equals_the_regex_on_every_character(python_core):
    span = re.Match.span
    assert core.STATUS.compiled  # (the C walk itself is under test)
    for text in [*_all_of_unicode_in_chunks(), *_random_mixtures(), *HOSTILE]:
        expected = list(map(span, compiled_or_python._DIGIT_RUNS.finditer(text)))
        assert compiled_or_python._digit_runs(text) == expected, text
        assert python_core._digit_runs(text) == expected, text


def test_word_walk_equals_the_regex_on_every_character(python_core):
    assert core.STATUS.compiled
    for text in [*_all_of_unicode_in_chunks(), *_random_mixtures(), *HOSTILE]:
        expected = compiled_or_python._WORD.findall(text)
        assert compiled_or_python._words(text) == expected, text
        assert python_core._words(text) == expected, text
