class VaultError(Exception):
    """A key or ciphertext problem, stated plainly. Never carries plaintext."""


class KeyDestroyed(VaultError):
    """The data key was crypto-shredded (erasure or retention): the content is gone for good."""


class CiphertextInvalid(VaultError):
    """A ciphertext did not authenticate: wrong key, tampering, or a value moved to another row."""
