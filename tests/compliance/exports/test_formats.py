"""Every format parses with an independent reader and says what the archive holds."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pypdf import PdfReader

from compliance.exports.formats.loadfile import COLUMN, QUOTE
from tests.compliance.exports.conftest import PHOTO, SECRET_EMAIL
from tests.compliance.exports.helpers import parse_mail, produce, rsmf_manifest_and_files

pytestmark = pytest.mark.django_db
SCHEMA = Path("/work/shared/formats/rsmf/rsmf_schema_2_0_0.json")


@pytest.fixture
def production(tmp_path: Path, user: Any, archive_data: dict[str, Any]) -> tuple[Path, Any, dict[str, Any]]:
    path, job = produce(
        tmp_path, user, conversation_ids=archive_data["all"], bates_prefix="ACME-", bates_start=100
    )
    return path, job, archive_data


def test_layout_and_manifest(production: tuple[Path, Any, dict[str, Any]]) -> None:
    path, _job, data = production
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
    assert {"manifest.json", "manifest.sig", "manifest.pub", "csv/messages.csv"} <= names
    assert {f"native/{c}.json" for c in data["all"]} <= names
    assert {f["path"] for f in manifest["files"]} == names - {"manifest.json", "manifest.sig", "manifest.pub"}
    assert manifest["requested_by"]["username"] == "counsel"
    assert manifest["purpose"].startswith("Smith v. Jones")
    assert manifest["scope"]["conversation_ids"] == [str(c) for c in data["all"]]
    assert manifest["sources"][0]["original_sha256"] == "ab" * 32
    assert manifest["counts"]["messages"] == 47
    assert manifest["software"]["name"] == "DMVault"
    assert manifest["created_at"].endswith("Z")
    assert manifest["bates"]["begin"] == "ACME-00000100"


def test_csv_one_row_per_message(production: tuple[Path, Any, dict[str, Any]]) -> None:
    path, _, _ = production
    with zipfile.ZipFile(path) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("csv/messages.csv").decode("utf-8-sig"))))
    assert len(rows) == 47
    texts = {r["text"] for r in rows}
    assert f"Yes — write to {SECRET_EMAIL} or call +49 171 5551234 😀" in texts
    media = next(r for r in rows if r["text"] == "photo attached")
    assert media["attachment_names"] == "Bartholomew-Quince-passport.png"
    assert media["attachment_files"].startswith("attachments/")
    reply = next(r for r in rows if r["text"].startswith("Yes"))
    first = next(r for r in rows if r["text"].startswith("Morning"))
    assert reply["reply_to_id"] == first["message_id"]
    assert json.loads(reply["reactions"])[0][1] == "👍"


def test_native_json_parses(production: tuple[Path, Any, dict[str, Any]]) -> None:
    path, _, data = production
    with zipfile.ZipFile(path) as zf:
        doc = json.loads(zf.read(f"native/{data['direct']}.json"))
        photo = next(m for m in doc["messages"] if m["attachments"])
        assert zf.read(photo["attachments"][0]["file"]) == PHOTO
    assert doc["format"] == "dmvault-native"
    assert doc["conversation"]["thread_id"] == "t-bob"
    assert next(m["text"] for m in doc["messages"]) == "Morning Bartholomew Quince, are we on?"
    assert {p["platform_id"] for p in doc["participants"]} == {"alice-id", "bob-id"}


def test_rsmf_is_an_eml_with_a_schema_valid_manifest(production: tuple[Path, Any, dict[str, Any]]) -> None:
    path, _, data = production
    schema = json.loads(SCHEMA.read_text())
    with zipfile.ZipFile(path) as zf:
        rsmf_names = [n for n in zf.namelist() if n.startswith("rsmf/")]
        assert len(rsmf_names) == 2
        for name in rsmf_names:
            raw_manifest, files, mail = rsmf_manifest_and_files(zf.read(name))
            manifest = json.loads(raw_manifest)
            jsonschema.validate(manifest, schema, cls=jsonschema.Draft7Validator)
            assert mail["X-RSMF-Version"] == "2.0.0"
            assert mail["X-RSMF-Generator"]
            assert int(mail["X-RSMF-EventCount"]) == len(manifest["events"])
            ids = {p["id"] for p in manifest["participants"]}
            for event in manifest["events"]:
                assert event.get("participant", next(iter(ids))) in ids
                for att in event.get("attachments", []):
                    assert files[att["id"]] == PHOTO
    direct = json.loads(
        rsmf_manifest_and_files(zipfile.ZipFile(path).read(f"rsmf/{data['direct']}-0001.rsmf"))[0]
    )
    assert len(direct["events"]) == 7
    assert any(e.get("parent") for e in direct["events"])


def test_rsmf_schema_rejects_the_reference_invalid_sample() -> None:
    schema = json.loads(SCHEMA.read_text())
    bad = json.loads(Path("/work/shared/formats/rsmf/sample1-invalid-walkthrough-manifest.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft7Validator)


def test_eml_one_per_conversation_day(production: tuple[Path, Any, dict[str, Any]]) -> None:
    path, _, data = production
    with zipfile.ZipFile(path) as zf:
        emls = sorted(n for n in zf.namelist() if n.startswith(f"eml/{data['direct']}/"))
        assert [Path(n).stem for n in emls] == ["2025-03-01", "2025-03-02", "2025-03-03"]
        mail = parse_mail(zf.read(emls[0]))
    assert mail["Subject"].endswith("2025-03-01")
    assert mail["X-DMVault-Message-Count"] == "3"
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None and "Morning Bartholomew Quince" in body.get_content()
    [att] = list(mail.iter_attachments())
    assert att.get_filename() == "Bartholomew-Quince-passport.png"
    assert att.get_payload(decode=True) == PHOTO


def test_html_transcript_escapes_and_parses(production: tuple[Path, Any, dict[str, Any]]) -> None:
    path, _, data = production
    with zipfile.ZipFile(path) as zf:
        page = zf.read(f"html/{data['direct']}.html").decode()

    class Collect(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.text: list[str] = []
            self.tags: list[str] = []

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            self.tags.append(tag)

        def handle_data(self, d: str) -> None:
            self.text.append(d)

    parser = Collect()
    parser.feed(page)
    assert "b" not in parser.tags  # archive content is escaped, never markup
    assert "final text <b>not html</b> & more" in "".join(parser.text)


def test_pdf_bates_on_every_page_and_load_files(production: tuple[Path, Any, dict[str, Any]]) -> None:
    path, job, _ = production
    with zipfile.ZipFile(path) as zf:
        pdfs = sorted(n for n in zf.namelist() if n.startswith("pdf/"))
        seen: list[str] = []
        for name in pdfs:
            reader = PdfReader(io.BytesIO(zf.read(name)))
            assert Path(name).stem == f"ACME-{100 + len(seen):08d}"
            for page in reader.pages:
                label = f"ACME-{100 + len(seen):08d}"
                assert label in page.extract_text()
                seen.append(label)
        dat = zf.read("loadfile/production.dat").decode("utf-8-sig")
        opt = zf.read("loadfile/production.opt").decode()
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["bates"]["pages"] == len(seen) == job.counts["pdf_pages"]
    assert manifest["bates"]["end"] == seen[-1]
    lines = [line for line in dat.split("\r\n") if line]
    rows = [[v.strip(QUOTE) for v in line.split(COLUMN)] for line in lines]
    header, docs = rows[0], rows[1:]
    assert header[:3] == ["BEGBATES", "ENDBATES", "PGCOUNT"]
    assert len(docs) == len(pdfs)
    assert sum(int(d[2]) for d in docs) == len(seen)
    assert all(line.startswith(QUOTE) and line.endswith(QUOTE) for line in lines)
    opt_rows = [r.split(",") for r in opt.split("\r\n") if r]
    assert [r[0] for r in opt_rows] == seen
    assert [r[3] for r in opt_rows].count("Y") == len(pdfs)
    assert all(r[2].startswith("pdf\\") for r in opt_rows)
