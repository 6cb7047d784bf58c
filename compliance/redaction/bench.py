"""Single-core throughput benchmark of detection.

Two mixes, one JSON line each (``python -m compliance.redaction.bench CORPUS``):

* ``corpus``: the PII-dense evaluation corpus texts (nearly every message carries PII);
* ``dm``: a realistic direct-message mix, synthetic chat sentences
  (:meth:`archive.synthetic.Generator.sentence`, about 5% of which carry PII) with corpus
  texts spliced in at ``corpus_share`` (5% by default).

``core`` says which detector core ran: "compiled" (built by ``make install``) or why not.
Every pass over a mix starts with the value caches emptied (:func:`.detectors.forget_values`),
so each message is measured as unseen: the texts repeat (2,000 corpus texts make 100,000
messages) and a phone number validated once is a cache hit the next time. ``corpus-repeated``
shows the same corpus with the caches kept, for comparison only.

Rates are messages per second of CPU time (``time.process_time``, best round: the machine
may be shared) and, for reference, of wall-clock time.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator, Sequence

from . import core
from .detectors import Redactor, forget_values


def load_texts(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def dm_mix(
    corpus_texts: Sequence[str], n: int = 20_000, seed: int = 11, corpus_share: float = 0.05
) -> list[str]:
    """``n`` messages: synthetic DM sentences, with corpus texts at ``corpus_share``."""
    from archive.synthetic import Generator  # plain Python, no Django set-up needed

    gen = Generator(seed=seed)
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        if corpus_texts and rnd.random() < corpus_share:
            out.append(rnd.choice(corpus_texts))
        else:
            out.append(gen.sentence())
    return out


def bench(
    texts: Sequence[str],
    min_messages: int = 100_000,
    rounds: int = 3,
    region_hints: Sequence[str] = (),
    unseen: bool = True,
) -> Iterator[dict]:
    """Yield one dict per round: messages, cpu_s, wall_s, messages_per_s (CPU based)."""
    if not texts:
        raise ValueError("no texts")
    r = Redactor(region_hints=region_hints)
    reps = max(1, -(-min_messages // len(texts)))
    for t in texts[:200]:
        r.detect(t)  # warm-up (lazy name lists, stdnum imports)
    for i in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        n = 0
        for _ in range(reps):
            if unseen:
                forget_values()
            for t in texts:
                r.detect(t)
            n += len(texts)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        yield {
            "round": i,
            "messages": n,
            "cpu_s": round(cpu, 3),
            "wall_s": round(wall, 3),
            "messages_per_s": round(n / cpu if cpu else 0.0, 1),
            "messages_per_s_wall": round(n / wall if wall else 0.0, 1),
        }


def summarize(mix: str, rows: Sequence[dict]) -> dict:
    """One figure per mix: the best round (least CPU time), plus every round's CPU rate."""
    best = min(rows, key=lambda r: r["cpu_s"])
    return {
        "mix": mix,
        "core": core.STATUS.reason,
        "messages": best["messages"],
        "cpu_s": best["cpu_s"],
        "wall_s": best["wall_s"],
        "messages_per_s": best["messages_per_s"],
        "messages_per_s_wall": best["messages_per_s_wall"],
        "rounds_messages_per_s": [r["messages_per_s"] for r in rows],
    }


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--min-messages", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dm-messages", type=int, default=20_000, help="distinct messages in the DM mix")
    ap.add_argument("--dm-corpus-share", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=11)
    a = ap.parse_args(argv)
    corpus = load_texts(a.corpus)
    mixes = {
        "corpus": corpus,
        "dm": dm_mix(corpus, a.dm_messages, a.seed, a.dm_corpus_share),
    }
    for mix, texts in mixes.items():
        rows = list(bench(texts, a.min_messages, a.rounds))
        print(json.dumps(summarize(mix, rows)), flush=True)
    rows = list(bench(corpus, a.min_messages, a.rounds, unseen=False))
    print(json.dumps(summarize("corpus-repeated", rows)), flush=True)


if __name__ == "__main__":
    main()
