"""Rebuild the person-name lists of the PERSON detector from Faker (MIT licence).

Build-time only (``faker`` is not a runtime dependency)::

    .venv/bin/python compliance/redaction/data/build_names.py          # rewrite the lists
    .venv/bin/python compliance/redaction/data/build_names.py --check  # exit 1 if they differ

Sources: every Faker ``person`` provider's ``first_name*`` / ``last_name*`` lists and the
romanised ``first_romanized*`` / ``last_romanized*`` lists (Chinese, Taiwanese and Japanese
given names such as "Wei" or "Haruka"). Compound names ("João Pedro", "Anna-Lena") are
split into their parts. Only tokens the detector can match are kept: Latin letters up to
U+017E, apostrophes, at least two letters.

Ambiguity: ``*_ambiguous.txt`` hold names that are also common words ("will", "rose",
"mark"); the detector wants context for those. They are a curated list: this script keeps
every entry already in them and adds new names that are (a) in one of Faker's lorem word
lists (common words of en/de/fr/es/it/nl/la and more), (b) two or three letters long
("li", "an", "min") or (c) romanised syllables of up to four letters ("ping", "gang"). Edit the ambiguous files by hand to move a name; re-run to rebuild the
other lists.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = "# Derived from the person-name lists of Faker (MIT licence, joke2k/faker).\n"
AMB_HEADER = HEADER + "# also common words in en/de/fr/es/pt dictionaries: need context\n"
_TOKEN = re.compile(r"^[a-zß-öø-ÿā-ž'’]{2,}$")


def _strings(provider: type, prefixes: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for attr in dir(provider):
        if attr.startswith("_") or not any(p in attr for p in prefixes):
            continue  # ("last_names", but also pl_PL's "male_last_names")
        value = getattr(provider, attr)
        if isinstance(value, dict):
            value = list(value)
        if isinstance(value, (list, tuple, set, frozenset)):
            out.update(v for v in value if isinstance(v, str))
    return out


def _tokens(names: set[str]) -> set[str]:
    out = set()
    for name in names:
        for part in re.split(r"[\s\-.]+", name.lower()):
            part = part.strip("'’")
            if _TOKEN.match(part):
                out.add(part)
    return out


def faker_names() -> tuple[set[str], set[str], set[str]]:
    import faker.providers.person as person

    first: set[str] = set()
    last: set[str] = set()
    short_romanized: set[str] = set()
    for mod in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"{person.__name__}.{mod.name}").Provider
        first |= _tokens(_strings(provider, ("first_name",)))
        last |= _tokens(_strings(provider, ("last_name",)))
        rf = _tokens(_strings(provider, ("first_romanized",)))
        rl = _tokens(_strings(provider, ("last_romanized",)))
        first |= rf
        last |= rl
        # romanised syllables of <= 4 letters ("ping", "gang", "fang") collide with words
        short_romanized |= {t for t in rf | rl if len(t) <= 4}
    return first, last, short_romanized


def common_words() -> set[str]:
    import faker.providers.lorem as lorem

    words: set[str] = set()
    for mod in pkgutil.iter_modules(lorem.__path__):
        provider = importlib.import_module(f"{lorem.__name__}.{mod.name}").Provider
        for attr in ("word_list", "parts_of_speech"):
            value = getattr(provider, attr, None)
            if isinstance(value, dict):
                value = [w for ws in value.values() for w in ws]
            if isinstance(value, (list, tuple)):
                words.update(w.lower() for w in value if isinstance(w, str))
    return words


def _read(name: str) -> set[str]:
    p = HERE / name
    if not p.exists():
        return set()
    with p.open(encoding="utf-8") as f:
        return {line.strip() for line in f if line.strip() and not line.startswith("#")}


def build() -> dict[str, str]:
    first, last, short_romanized = faker_names()
    common = common_words() | short_romanized
    old = {
        n: _read(n)
        for n in (
            "first_names.txt",
            "first_names_ambiguous.txt",
            "last_names.txt",
            "last_names_ambiguous.txt",
        )
    }

    def split(names: set[str], known: set[str], amb_seed: set[str]) -> tuple[set[str], set[str]]:
        amb = {n for n in names if n in amb_seed or (n not in known and (n in common or len(n) <= 3))}
        return names - amb, amb

    known_first = old["first_names.txt"] | old["first_names_ambiguous.txt"]
    known_last = old["last_names.txt"] | old["last_names_ambiguous.txt"]
    f, fa = split(first | known_first, known_first, old["first_names_ambiguous.txt"])
    lst, la = split(last | known_last, known_last, old["last_names_ambiguous.txt"])

    def text(header: str, names: set[str]) -> str:
        return header + "".join(n + "\n" for n in sorted(names))

    return {
        "first_names.txt": text(HEADER, f),
        "first_names_ambiguous.txt": text(AMB_HEADER, fa),
        "last_names.txt": text(HEADER, lst),
        "last_names_ambiguous.txt": text(AMB_HEADER, la),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 when a list would change")
    args = ap.parse_args(argv)
    changed = []
    for name, content in build().items():
        p = HERE / name
        current = p.read_text(encoding="utf-8") if p.exists() else ""
        if current != content:
            changed.append(name)
            if not args.check:
                p.write_text(content, encoding="utf-8")
    for name in changed:
        print(("differs: " if args.check else "rewrote: ") + name)
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
