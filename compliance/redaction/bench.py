"""Single-core throughput benchmark of detection over corpus texts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence

from .detectors import Redactor


def load_texts(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def bench(
    texts: Sequence[str], min_messages: int = 100_000, rounds: int = 3, region_hints: Sequence[str] = ()
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
        }


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--min-messages", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args(argv)
    for row in bench(load_texts(a.corpus), a.min_messages, a.rounds):
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
