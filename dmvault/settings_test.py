"""Settings for the test suite: the normal settings, a throw-away data folder, fast hashing."""

import os
import tempfile

os.environ.setdefault("DMVAULT_ENV", "test")
os.environ.setdefault("DMVAULT_DATA_DIR", tempfile.mkdtemp(prefix="dmvault-test-"))

from dmvault.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
