"""fix_mojibake: undo Meta's Latin-1-over-UTF-8 encoding without harming correct text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from archive.importers.textfix import fix_mojibake, fix_tree


def mangle(text: str) -> str:
    """What Meta's exporter does: UTF-8 bytes read back as Latin-1."""
    return text.encode("utf-8").decode("latin-1")


def test_repairs_accented_latin() -> None:
    assert fix_mojibake("\u00c3\u00a9") == "é"
    assert fix_mojibake("Caf\u00c3\u00a9 cr\u00c3\u00a8me") == "Café crème"


def test_repairs_four_byte_emoji() -> None:
    assert fix_mojibake("\u00f0\u009f\u0098\u0082") == "😂"


def test_repairs_cyrillic_and_vietnamese() -> None:
    assert fix_mojibake(mangle("Привет")) == "Привет"
    assert fix_mojibake("Nguy\u00e1\u00bb\u0085n") == "Nguyễn"


def test_leaves_ascii_alone() -> None:
    assert fix_mojibake("plain text") == "plain text"


def test_leaves_correct_latin1_range_text_alone() -> None:
    # A lone "é" is not valid UTF-8 once encoded as Latin-1, so it is already correct.
    assert fix_mojibake("café") == "café"
    assert fix_mojibake("Zoë, naïve, Ångström") == "Zoë, naïve, Ångström"


def test_leaves_real_emoji_and_non_latin_text_alone() -> None:
    for text in ("😂👍🏽", "Привет", "日本語", "mixed é and 😂"):
        assert fix_mojibake(text) == text


def test_fix_tree_repairs_nested_values_and_keys() -> None:
    tree = {"n\u00c3\u00a9": ["\u00c3\u00a9", {"k": "\u00f0\u009f\u0098\u0082"}], "num": 3, "flag": True}
    assert fix_tree(tree) == {"né": ["é", {"k": "😂"}], "num": 3, "flag": True}


@given(st.text())
def test_mangled_text_always_round_trips(text: str) -> None:
    assert fix_mojibake(mangle(text)) == text


@given(st.text(alphabet=st.characters(min_codepoint=0x100, exclude_categories=["Cs"])))
def test_text_beyond_latin1_is_never_changed(text: str) -> None:
    assert fix_mojibake(text) == text


@given(st.text())
def test_never_raises(text: str) -> None:
    assert isinstance(fix_mojibake(text), str)
