from __future__ import annotations

import email
import io
import zipfile
from email import policy
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from compliance.exports.jobs import create_export, run_job_to_path


def produce(tmp_path: Path, user: Any, name: str = "production.zip", **kwargs: Any) -> tuple[Path, Any]:
    kwargs.setdefault("purpose", "Smith v. Jones, first request for production")
    job = create_export(requested_by=user, queue=False, **kwargs)
    path = tmp_path / name
    job = run_job_to_path(job.id, path)
    assert job.status == "done", job.error
    return path, job


def parse_mail(data: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def rsmf_manifest_and_files(data: bytes) -> tuple[bytes, dict[str, bytes], email.message.EmailMessage]:
    mail = parse_mail(data)
    [rsmf_zip] = [p for p in mail.iter_attachments() if p.get_filename() == "rsmf.zip"]
    payload = rsmf_zip.get_payload(decode=True)
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    return files.pop("rsmf_manifest.json"), files, mail


def all_text(path: Path) -> dict[str, str]:
    """Every member of a production as text a reader would see: mail parts decoded, nested
    RSMF zips opened, PDF text extracted."""
    out: dict[str, str] = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            data = zf.read(name)
            if name.endswith(".pdf"):
                out[name] = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
            elif name.endswith((".eml", ".rsmf")):
                mail = parse_mail(data)
                parts = [str(mail)]  # headers and raw
                for part in mail.walk():
                    if part.is_multipart():
                        continue
                    parts.append(str(part.get_filename() or ""))
                    body = part.get_payload(decode=True) or b""
                    if part.get_filename() == "rsmf.zip":
                        with zipfile.ZipFile(io.BytesIO(body)) as inner:
                            parts.extend(inner.namelist())
                            parts.extend(inner.read(n).decode("utf-8", "replace") for n in inner.namelist())
                    else:
                        parts.append(body.decode("utf-8", "replace"))
                out[name] = "\n".join(parts)
            else:
                out[name] = name + "\n" + data.decode("utf-8", "replace")
    return out
