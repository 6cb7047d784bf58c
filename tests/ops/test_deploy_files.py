"""compose.yaml and the Dockerfile cannot be built here; check what can be checked: the
services and their commands, that every variable they set is a real setting, that the keyring
and ledger live on volumes apart from the database's, and that the Dockerfile's paths exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from django.urls import resolve

REPO = Path(__file__).resolve().parents[2]
SETTINGS_SOURCE = (REPO / "dmvault" / "settings.py").read_text()
# Read by something other than settings.py: gunicorn's config, libraries, the postgres image.
OTHER_READERS = {
    "GUNICORN_WORKERS": REPO / "dmvault/ops/gunicorn_conf.py",
    "GUNICORN_FORWARDED_ALLOW_IPS": REPO / "dmvault/ops/gunicorn_conf.py",
    "PROMETHEUS_MULTIPROC_DIR": REPO / "dmvault/ops/metrics.py",
}


def _compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def _is_read(name: str) -> bool:
    if name in OTHER_READERS:
        return name in OTHER_READERS[name].read_text()
    base = name.removesuffix("_FILE")
    if base != name:  # NAME_FILE works for secrets read with env_secret("NAME")
        return f'env_secret("{base}"' in SETTINGS_SOURCE or f'env_json_object("{base}"' in SETTINGS_SOURCE
    return f'"{name}"' in SETTINGS_SOURCE


def test_compose_services_commands_and_settings() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"web", "worker", "db", "redis", "init"} <= set(services)
    assert services["web"]["command"][0] == "gunicorn" and "dmvault.wsgi" in services["web"]["command"]
    assert services["worker"]["command"] == ["python", "manage.py", "qcluster"]
    assert "migrate" in " ".join(services["init"]["command"])
    for name in ("web", "worker", "init"):
        env = services[name]["environment"]
        unknown = [k for k in env if not _is_read(k)]
        assert not unknown, (name, unknown)
        assert env["DMVAULT_ENV"] == "production"
        assert env["DMVAULT_REDIS_URL"].startswith("redis://redis:")
        assert "@db:5432/" in env["DATABASE_URL"]
    for name in ("web", "worker"):
        volumes = {v.split(":")[1]: v for v in services[name]["volumes"]}
        env = services[name]["environment"]
        keys_mount = str(Path(env["DMVAULT_KEYRING_PATH"]).parent)
        ledger_mount = str(Path(env["DMVAULT_LEDGER_PATH"]).parent)
        assert volumes[keys_mount].startswith("keys:") and volumes[keys_mount].endswith(":ro")
        assert volumes[ledger_mount].startswith("ledger:")
        assert str(Path(env["DMVAULT_AUDIT_KEY_PATH"]).parent) == keys_mount
    db_volumes = services["db"]["volumes"]
    assert all(not v.startswith(("keys:", "ledger:")) for v in db_volumes)
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")


def test_dockerfile_references_existing_files_and_real_commands() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim", text, re.M)
    assert re.search(r"^USER dmvault$", text, re.M)
    assert "pip install ." in text and "collectstatic" in text and "HEALTHCHECK" in text
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        *sources, _dest = shlex.split(line)
        for src in sources:
            assert (REPO / src).exists(), src
    for name in re.findall(r"^ENV (?:.|\\\n)+?(?=\n\S|\n\n)", text, re.M):
        for var in re.findall(r"(\w+)=", name):
            assert _is_read(var) or var.startswith(("PYTHON", "PIP_")), var
    cmd = re.search(r"^CMD \[(.+)\]$", text, re.M)
    assert cmd and '"gunicorn"' in cmd.group(1)
    conf = re.search(r"python:([\w.]+)", cmd.group(1))
    assert conf and (REPO / (conf.group(1).replace(".", "/") + ".py")).exists()
    assert (REPO / "dmvault" / "wsgi.py").exists()
    probe = re.search(r"http://127\.0\.0\.1:8000(/[\w/]+)", text)
    assert probe and resolve(probe.group(1)).url_name == "health-live"
