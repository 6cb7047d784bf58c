"""Run the detectors over a gold JSONL file and write scorer-readable predictions."""

from __future__ import annotations

import json
from collections.abc import Sequence

from .detectors import Redactor

# Message language -> phone regions to try first (a stand-in for the export metadata:
# archive owner's country and the partner's number country).
LANG_REGIONS = {
    "de": ("DE", "AT", "CH"),
    "fr": ("FR", "BE", "CH"),
    "es": ("ES", "MX"),
    "pt": ("PT", "BR"),
    "en": ("US", "GB", "IN"),
}


def predict_records(records, region_hints: Sequence[str] = (), known_names: Sequence[str] = ()):
    redactors: dict[str, Redactor] = {}
    for rec in records:
        lang = rec.get("lang", "")
        r = redactors.get(lang)
        if r is None:
            hints = list(region_hints) + [x for x in LANG_REGIONS.get(lang, ()) if x not in region_hints]
            r = redactors[lang] = Redactor(region_hints=hints, known_names=known_names)
        spans = [
            {
                "start": f.start,
                "end": f.end,
                "type": f.type,
                "score": round(f.confidence, 3),
                "detector": f.detector,
            }
            for f in r.detect(rec["text"])
        ]
        yield {"id": rec.get("id"), "spans": spans}


def predict_file(
    gold_path: str, pred_path: str, region_hints: Sequence[str] = (), known_names: Sequence[str] = ()
) -> int:
    """Read ``gold_path`` (JSONL with ``id`` and ``text``), write predictions to ``pred_path``.
    Returns the number of records written."""
    with open(gold_path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    n = 0
    with open(pred_path, "w", encoding="utf-8") as out:
        for pred in predict_records(records, region_hints, known_names):
            out.write(json.dumps(pred, ensure_ascii=False) + "\n")
            n += 1
    return n
