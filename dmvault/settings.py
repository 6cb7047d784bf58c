"""DMVault settings. Everything configurable comes from the environment (see README).

``DMVAULT_ENV`` picks the mode: ``development`` (the default) and ``demo`` generate a secret
key and a local keyring on first use; ``production`` generates nothing and refuses to start
without them (system checks in ``dmvault/checks.py``).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from dmvault.env import (
    env_bool,
    env_choice,
    env_int,
    env_json_object,
    env_list,
    env_secret,
    env_str,
    parse_database_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DMVAULT_ENV = env_choice("DMVAULT_ENV", ("development", "demo", "production", "test"), "development")
PRODUCTION = DMVAULT_ENV == "production"

DATA_DIR = Path(env_str("DMVAULT_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)


def _development_secret_key() -> str:
    # Generated once per data folder, never in production: a restarted dev server keeps its sessions.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_secret("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required when DMVAULT_ENV=production "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    SECRET_KEY = _development_secret_key()

DEBUG = env_bool("DJANGO_DEBUG", default=DMVAULT_ENV == "development")
ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "dmvault.ops.admin_site.AuditedAdminConfig",  # django.contrib.admin, admin role only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_q",
    "accounts",
    "archive",
    "compliance",
    "dmvault.ops",  # operations: health, metrics, backup/restore, SSO, the erasure ledger (issue 10)
    "dmvault.ui",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "dmvault.ops.admin_audit.AdminAuditMiddleware",  # one audit event per /admin/ and /oidc/ request
]

ROOT_URLCONF = "dmvault.urls"
WSGI_APPLICATION = "dmvault.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'dmvault.sqlite3'}"), base_dir=BASE_DIR
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Containers collect static files at build time, outside the data volume (Dockerfile).
STATIC_ROOT = Path(env_str("DMVAULT_STATIC_ROOT", str(DATA_DIR / "static")))

# Attachment blobs and encrypted evidence go through Django's storage API, so an S3-compatible
# store (django-storages) can replace the local folder by configuration alone:
# DMVAULT_BLOB_STORAGE=storages.backends.s3.S3Storage and DMVAULT_BLOB_STORAGE_OPTIONS (or _FILE)
# '{"bucket_name": "dmvault-blobs", "endpoint_url": "https://s3.example", "default_acl": null}'.
# Everything stored there is sealed (AES-256-GCM) before it leaves the process.
BLOB_ROOT = Path(env_str("DMVAULT_BLOB_ROOT", str(DATA_DIR / "blobs")))
_FILE_STORAGE = "django.core.files.storage.FileSystemStorage"
DMVAULT_BLOB_STORAGE = env_str("DMVAULT_BLOB_STORAGE", _FILE_STORAGE)
_BLOB_OPTIONS = env_json_object("DMVAULT_BLOB_STORAGE_OPTIONS")
STORAGES = {
    "default": {"BACKEND": _FILE_STORAGE},
    "blobs": {
        "BACKEND": DMVAULT_BLOB_STORAGE,
        "OPTIONS": _BLOB_OPTIONS
        or ({"location": str(BLOB_ROOT)} if DMVAULT_BLOB_STORAGE == _FILE_STORAGE else {}),
    },
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Keys -------------------------------------------------------------------------------------
# The root key never lives in the database: a database backup alone decrypts nothing.
DMVAULT_KEY_PROVIDER = env_choice(
    "DMVAULT_KEY_PROVIDER", ("local", "none"), "none" if PRODUCTION else "local"
)
DMVAULT_KEYRING_PATH = Path(env_str("DMVAULT_KEYRING_PATH", str(DATA_DIR / "keys" / "keyring.json")))
# Outside production a missing keyring is created on first use (`vault init` does it explicitly).
DMVAULT_KEYRING_AUTOCREATE = env_bool("DMVAULT_KEYRING_AUTOCREATE", default=not PRODUCTION)
# Accent folding in the blind index (é matches e). Changing it needs a re-index.
DMVAULT_INDEX_FOLD_ACCENTS = env_bool("DMVAULT_INDEX_FOLD_ACCENTS", default=True)
# SQLite page cache of each bulk writer process, in MB (counts towards the import's memory).
# Staged postings keep the pages a commit touches few: 1 GB of cache measured no faster than
# 192 MB at a million messages, and 32 MB with 10,000-message batches wrote as fast as 64 MB
# with 20,000 at 300,000 messages (2,793 vs 2,808 msg/s) in 120 MB less memory for two writers.
DMVAULT_WRITE_CACHE_MB = env_int("DMVAULT_WRITE_CACHE_MB", 32, minimum=8)
# Largest accepted upload (bytes); a reverse proxy's body-size limit applies too.
DMVAULT_UPLOAD_MAX_BYTES = env_int("DMVAULT_UPLOAD_MAX_BYTES", 20 * 1024**3, minimum=1024)
# Prefix tokens (3-8 characters) so `budg*` can be searched: about 4 extra postings per word,
# and more leakage to a database thief (correlated tokens per word). Off by default.
DMVAULT_INDEX_PREFIXES = env_bool("DMVAULT_INDEX_PREFIXES", default=False)
# Word-pair tokens (two adjacent words) so a phrase looks up only messages where its words are
# adjacent: one extra posting per word, and more leakage (which tokens follow each other).
# Decided per month when its posting table is created: turning it off or on later only
# affects new months, and months without pairs are still searched word by word.
DMVAULT_INDEX_PAIRS = env_bool("DMVAULT_INDEX_PAIRS", default=True)
# Messages per write transaction. Message ids are time-ordered and an export comes thread by
# thread, so a batch lands all over the message table's B-tree: a commit writes nearly one page
# per row until batches are large (20,000 wrote 1.34x faster than 2,000 on SQLite at 200,000
# messages; 10,000 as fast as 20,000 at 300,000). Each writer process holds one batch in memory.
# PostgreSQL inserts each batch's postings straight into the month B-trees, so a batch dirties
# most of their pages whatever its size: larger batches write far less (1M messages: 4,094 msg/s
# with 10,000, 4,619 with 50,000). 30,000 keeps two writers and the importer under 500 MB.
_POSTGRES = str(DATABASES["default"]["ENGINE"]).endswith("postgresql")
DMVAULT_WRITE_BATCH = env_int("DMVAULT_WRITE_BATCH", 30_000 if _POSTGRES else 10_000, minimum=1)
# Erasure needs a second admin's approval when on (two-person rule).
DMVAULT_ERASURE_TWO_PERSON = env_bool("DMVAULT_ERASURE_TWO_PERSON", default=False)
# What ingest does with new messages of subjects who refused archiving: drop or redact.
DMVAULT_CONSENT_INGEST_ACTION = env_choice("DMVAULT_CONSENT_INGEST_ACTION", ("drop", "redact"), "drop")
# Worker processes that write an import's conversations in parallel (1 = in the calling process).
# Two by default on both databases: tokenizing and sealing are CPU work that a second core
# halves, and with large batches and staged postings the SQLite writers' turns cost little
# (200,000 messages: 1 writer 4,015 msg/s, 2 writers 5,138 msg/s).
DMVAULT_WRITE_WORKERS = env_int("DMVAULT_WRITE_WORKERS", 2, minimum=1)

# --- Background jobs --------------------------------------------------------------------------
DMVAULT_REDIS_URL = env_str("DMVAULT_REDIS_URL")
Q_CLUSTER: dict[str, object] = {
    "name": "dmvault",
    "workers": env_int("DMVAULT_WORKERS", 2, minimum=1),
    "timeout": env_int("DMVAULT_JOB_TIMEOUT", 3600, minimum=10),
    # A job not acknowledged this long after it was taken (its worker died) is handed out again.
    # Must exceed the timeout plus the time prefetched jobs wait behind a running one (queue_limit).
    "retry": env_int(
        "DMVAULT_JOB_RETRY", 3 * env_int("DMVAULT_JOB_TIMEOUT", 3600, minimum=10) + 60, minimum=11
    ),
    "queue_limit": env_int("DMVAULT_WORKERS", 2, minimum=1),  # prefetch at most one job per worker
    "max_attempts": 3,
    "save_limit": 1000,
    "catch_up": False,
    "label": "Background jobs",
}
if DMVAULT_REDIS_URL:
    Q_CLUSTER["redis"] = DMVAULT_REDIS_URL
    # django-q2's stock Redis broker drops a job whose worker dies (BLPOP, no acknowledgement);
    # this one leases jobs and hands them out again after ``retry`` (dmvault/ops/broker.py).
    Q_CLUSTER["broker_class"] = "dmvault.ops.broker.ReliableRedisBroker"
else:
    Q_CLUSTER["orm"] = "default"

# --- API --------------------------------------------------------------------------------------
# Every API view is audited and permission-checked (dmvault/api/); the defaults deny.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "dmvault.api.schema.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "dmvault.api.authentication.BearerTokenAuthentication",
        "dmvault.api.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["dmvault.api.permissions.CapabilityPermission"],
    "DEFAULT_THROTTLE_CLASSES": [
        "dmvault.api.throttling.AnonThrottle",
        "dmvault.api.throttling.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("DMVAULT_THROTTLE_ANON", "60/min"),
        "user": env_str("DMVAULT_THROTTLE_USER", "600/min"),
        "login": env_str("DMVAULT_THROTTLE_LOGIN", "10/min"),
    },
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "dmvault.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DMVault API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["dmvault.api.permissions.CapabilityPermission"],
}
# Login lockout: after this many failures in a row the account is locked for the period.
DMVAULT_LOGIN_MAX_FAILURES = env_int("DMVAULT_LOGIN_MAX_FAILURES", 5, minimum=1)
DMVAULT_LOGIN_LOCKOUT_SECONDS = env_int("DMVAULT_LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
DMVAULT_LOGIN_TOKEN_DAYS = env_int("DMVAULT_LOGIN_TOKEN_DAYS", 1, minimum=1)
# A declared purpose of access lasts this long (or until the token/session ends).
DMVAULT_PURPOSE_SECONDS = env_int("DMVAULT_PURPOSE_SECONDS", 8 * 3600, minimum=60)

# --- Audit log ----------------------------------------------------------------------------------
# The checkpoint signing key lives beside the keyring, never in the database.
DMVAULT_AUDIT_KEY_PATH = Path(
    env_str("DMVAULT_AUDIT_KEY_PATH", str(DMVAULT_KEYRING_PATH.parent / "audit-signing.key"))
)
DMVAULT_AUDIT_KEY_AUTOCREATE = env_bool("DMVAULT_AUDIT_KEY_AUTOCREATE", default=not PRODUCTION)
# Verifiers (the web process's /api/v1/audit/verify, verify_audit) can use just the public key.
DMVAULT_AUDIT_PUBLIC_KEY = env_str("DMVAULT_AUDIT_PUBLIC_KEY")
DMVAULT_AUDIT_ORIGIN = env_str("DMVAULT_AUDIT_ORIGIN", "dmvault.local/audit/v1")
# Client IPs come from X-Forwarded-For only behind this many trusted proxies (0: REMOTE_ADDR).
DMVAULT_TRUSTED_PROXIES = env_int("DMVAULT_TRUSTED_PROXIES", 0, minimum=0)

# --- Security ---------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("DMVAULT_SESSION_SECONDS", 8 * 3600, minimum=60)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DMVAULT_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("DMVAULT_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Logs never carry message content or identities: only ids, counts and codes are logged.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # Both formats leave exception messages out: they can quote input or decrypted values.
        "plain": {"()": "dmvault.ops.logging.PlainFormatter"},
        # One JSON object per line; exception messages are left out (they can quote input).
        "json": {"()": "dmvault.ops.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env_choice(
                "DMVAULT_LOG_FORMAT", ("plain", "json"), "json" if PRODUCTION else "plain"
            ),
        },
        "file": {
            "class": "logging.FileHandler",
            "filename": str(DATA_DIR / "dmvault.log"),
            "formatter": env_choice(
                "DMVAULT_LOG_FORMAT", ("plain", "json"), "json" if PRODUCTION else "plain"
            ),
        },
    },
    "root": {"handlers": ["console", "file"], "level": env_str("DMVAULT_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Operations (issue 10; docs/OPERATIONS.md) ----------------------------------------------------
# Erasures and retention runs are also appended here, outside the database, so `restore` can
# replay what happened after a backup was taken (dmvault/ops/ledger.py). Keep it off the database
# volume and out of database backups, like the keyring.
DMVAULT_LEDGER_PATH = Path(env_str("DMVAULT_LEDGER_PATH", str(DATA_DIR / "ledger" / "erasure-ledger.jsonl")))
# /metrics answers only with `Authorization: Bearer <token>`; empty: /metrics is off (404).
DMVAULT_METRICS_TOKEN = env_secret("DMVAULT_METRICS_TOKEN")
# OpenID Connect single sign-on (dmvault/ops/sso.py): on when the client id and the four
# endpoints are set; a half configuration fails the system check dmvault.ops.E001.
DMVAULT_OIDC_CLIENT_ID = env_str("DMVAULT_OIDC_CLIENT_ID")
DMVAULT_OIDC_CLIENT_SECRET = env_secret("DMVAULT_OIDC_CLIENT_SECRET")
DMVAULT_OIDC_AUTHORIZATION_ENDPOINT = env_str("DMVAULT_OIDC_AUTHORIZATION_ENDPOINT")
DMVAULT_OIDC_TOKEN_ENDPOINT = env_str("DMVAULT_OIDC_TOKEN_ENDPOINT")
DMVAULT_OIDC_USERINFO_ENDPOINT = env_str("DMVAULT_OIDC_USERINFO_ENDPOINT")
DMVAULT_OIDC_JWKS_ENDPOINT = env_str("DMVAULT_OIDC_JWKS_ENDPOINT")
DMVAULT_OIDC_SIGN_ALGO = env_choice("DMVAULT_OIDC_SIGN_ALGO", ("RS256", "ES256", "HS256"), "RS256")
DMVAULT_OIDC_GROUPS_CLAIM = env_str("DMVAULT_OIDC_GROUPS_CLAIM", "groups")
# JSON object: provider group -> DMVault role; a user in none of the groups cannot log in.
DMVAULT_OIDC_ROLE_MAP = env_str("DMVAULT_OIDC_ROLE_MAP", "{}")
DMVAULT_OIDC_ENABLED = all(
    (
        DMVAULT_OIDC_CLIENT_ID,
        DMVAULT_OIDC_AUTHORIZATION_ENDPOINT,
        DMVAULT_OIDC_TOKEN_ENDPOINT,
        DMVAULT_OIDC_USERINFO_ENDPOINT,
        DMVAULT_OIDC_JWKS_ENDPOINT,
    )
)
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "accounts.backends.RolePermissionBackend",  # admin model permissions from the role (no grants)
]
if DMVAULT_OIDC_ENABLED:
    AUTHENTICATION_BACKENDS.append("dmvault.ops.sso.RoleMappingOIDCBackend")
# mozilla-django-oidc reads these names.
OIDC_RP_CLIENT_ID = DMVAULT_OIDC_CLIENT_ID
OIDC_RP_CLIENT_SECRET = DMVAULT_OIDC_CLIENT_SECRET
OIDC_OP_AUTHORIZATION_ENDPOINT = DMVAULT_OIDC_AUTHORIZATION_ENDPOINT
OIDC_OP_TOKEN_ENDPOINT = DMVAULT_OIDC_TOKEN_ENDPOINT
OIDC_OP_USER_ENDPOINT = DMVAULT_OIDC_USERINFO_ENDPOINT
OIDC_OP_JWKS_ENDPOINT = DMVAULT_OIDC_JWKS_ENDPOINT
OIDC_RP_SIGN_ALGO = DMVAULT_OIDC_SIGN_ALGO
OIDC_RP_SCOPES = "openid email profile"
OIDC_USE_PKCE = True
OIDC_STORE_ID_TOKEN = False
LOGIN_REDIRECT_URL = "/"
LOGIN_REDIRECT_URL_FAILURE = "/login/?sso=failed"
LOGOUT_REDIRECT_URL = "/login/"
