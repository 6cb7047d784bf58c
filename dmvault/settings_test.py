"""Settings for the test suite: the normal settings, a throw-away data folder, fast hashing."""

import os
import tempfile

os.environ.setdefault("DMVAULT_ENV", "test")
# In-process writing: pytest-django wraps each test in a transaction that worker processes could
# not see. The parallel path is tested in subprocesses against a real database file.
os.environ.setdefault("DMVAULT_WRITE_WORKERS", "1")
os.environ.setdefault("DMVAULT_DATA_DIR", tempfile.mkdtemp(prefix="dmvault-test-"))

from dmvault.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (whitenoise warns when it is missing)
