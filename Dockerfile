# DMVault: one image for the web nodes (gunicorn) and the job workers (manage.py qcluster).
# Build: docker build -t dmvault .   Run: docker compose up (compose.yaml). Same install as the
# README's plain install (`pip install .`), with production defaults; see docs/OPERATIONS.md.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DMVAULT_ENV=production \
    DMVAULT_DATA_DIR=/data \
    DMVAULT_STATIC_ROOT=/app/static \
    DMVAULT_LOG_FORMAT=json

# pg_dump / pg_restore for `manage.py backup` and `restore` on PostgreSQL.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 dmvault \
    && useradd --system --uid 10001 --gid dmvault --home-dir /app --shell /usr/sbin/nologin dmvault

WORKDIR /app
COPY pyproject.toml README.md manage.py ./
COPY accounts ./accounts
COPY archive ./archive
COPY compliance ./compliance
COPY dmvault ./dmvault
RUN pip install . mozilla-django-oidc prometheus-client
# The compiled redaction core (compliance/redaction/core.py): about 1.3 times faster detectors.
# The C compiler is only needed for this step and leaves the image with it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && python -m compliance.redaction.build_core \
    && rm -rf build \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*

# Static files are collected into the image (served by whitenoise), never onto the data volume.
# The secret and hosts here exist only for this build step.
RUN DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=build DMVAULT_DATA_DIR=/tmp/build \
    python manage.py collectstatic --noinput -v0 \
    && rm -rf /tmp/build \
    && mkdir -p /data /keys /ledger \
    && chown dmvault:dmvault /data /keys /ledger

USER dmvault
EXPOSE 8000
VOLUME ["/data"]

# Liveness only: no database, no audit event. X-Forwarded-Proto avoids the HTTPS redirect.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:8000/health/live', headers={'X-Forwarded-Proto': 'https', 'Host': 'localhost'}), timeout=4)"]

CMD ["gunicorn", "-c", "python:dmvault.ops.gunicorn_conf", "dmvault.wsgi"]
