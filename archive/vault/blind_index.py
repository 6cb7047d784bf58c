"""Blind-index terms: how text is normalized and cut into searchable terms.

The same function runs at ingest and at query time, so a query matches whatever the writer
indexed. Normalization: NFKC (fullwidth and compatibility forms fold), casefold (ß → ss),
optional accent folding (é → e), then words on Unicode boundaries; CJK and Thai runs become
character bigrams; emoji are terms of their own. Stop words and one-letter words are not
indexed: they have no search value and are what frequency analysis would identify first.
Bump ``NORMALIZATION_VERSION`` when any of this changes: existing postings need a re-index.
"""

from __future__ import annotations

import re
import unicodedata

NORMALIZATION_VERSION = 1

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "of",
        "on",
        "or",
        "so",
        "the",
        "to",
        "was",
        "were",
        "with",
        "der",
        "die",
        "das",
        "und",
        "ist",
        "zu",
        "den",
        "ein",
        "eine",
        "nicht",
        "mit",
        "es",
        "im",
        "le",
        "la",
        "les",
        "et",
        "est",
        "un",
        "une",
        "des",
        "du",
        "en",
        "que",
        "pas",
        "el",
        "los",
        "las",
        "y",
        "es",
        "un",
        "una",
        "de",
        "que",
        "no",
        "por",
        "o",
        "os",
        "as",
        "e",
        "um",
        "uma",
        "não",
        "que",
    ]
)

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f"
_EMOJI = r"\U0001F000-\U0001FAFF\u2600-\u27BF"
_TERM_RE = re.compile(rf"[{_CJK}]+|[{_EMOJI}]|[^\W_{_CJK}]+(?:['’][^\W_]+)?")
_CJK_RE = re.compile(rf"[{_CJK}]")
_EMOJI_RE = re.compile(rf"[{_EMOJI}]")


def _fold_accents(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize(text: str, *, fold_accents: bool = True) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    if fold_accents and not folded.isascii():
        folded = _fold_accents(folded)
    return folded


# word -> its terms, one cache per accent-folding mode (a plain str key is cheaper than a tuple).
_WORD_CACHE: dict[bool, dict[str, tuple[str, ...]]] = {True: {}, False: {}}


def _word_terms(word: str, fold_accents: bool) -> tuple[str, ...]:
    if fold_accents and not word.isascii():
        word = _fold_accents(word)
    first = word[0]
    if _CJK_RE.match(first):
        if len(word) == 1:
            return (word,)
        return tuple(word[i : i + 2] for i in range(len(word) - 1))
    if _EMOJI_RE.match(first):
        return (word,)
    if len(word) >= 2 and word not in STOP_WORDS:
        return (word.replace("’", "'"),)
    return ()


def terms(text: str, *, fold_accents: bool = True) -> set[str]:
    """The distinct index terms of ``text``."""
    out: set[str] = set()
    cache = _WORD_CACHE[fold_accents]
    for word in set(_TERM_RE.findall(unicodedata.normalize("NFKC", text).casefold())):
        found = cache.get(word)
        if found is None:
            found = _word_terms(word, fold_accents)
            if len(cache) < 1_000_000:
                cache[word] = found
        out.update(found)
    return out


def query_terms(text: str, *, fold_accents: bool = True) -> list[str]:
    """Terms of a query word or phrase, in order, for matching against the index."""
    return sorted(terms(text, fold_accents=fold_accents))
