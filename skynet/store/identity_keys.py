"""Identity keys (ID-card numbers and the like) at rest: a keyed hash to match on, an encrypted value, a mask.

The secrets are in ``identity.key`` in the data directory (``0600``, 64 random bytes as hex, written once):
the first half keys the HMAC-SHA256 that watch-list matching compares, the second the AES-256-GCM
(``cryptography``) that seals each value. Whoever holds the database alone (a copy, a backup, SQL access)
sees neither a key nor a way to test a guess; with PostgreSQL, every node must have the same key file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skynet.records import Identity
from skynet.store.errors import StoreError
from skynet.store.secret_files import create_secret_file

KEY_FILE = "identity.key"
_NONCE = 12
_CONTEXT = b"skynet identity key v1"


def mask(value: str) -> str:
    """``value`` with all but its first and last few characters hidden (``4501**********1234``)."""
    keep = min(4, len(value) // 4)
    return value[:keep] + "*" * (len(value) - 2 * keep) + (value[-keep:] if keep else "")


class IdentityKeys:
    """Hashes, seals and unseals identity keys with the secrets of ``data_dir``'s key file (made at first use)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / KEY_FILE
        self._secrets: tuple[bytes, AESGCM] | None = None

    def _keys(self) -> tuple[bytes, AESGCM]:
        if self._secrets is None:
            try:
                if not self.path.exists():
                    create_secret_file(self.path, secrets.token_hex(64) + "\n")
                text = self.path.read_text(encoding="ascii").strip()
            except (OSError, UnicodeDecodeError) as error:
                raise StoreError(f"cannot read the identity key {self.path}: {error}") from error
            try:
                secret = bytes.fromhex(text)
            except ValueError:
                secret = b""
            if len(secret) != 64:
                raise StoreError(
                    f"the identity key {self.path} is damaged", "restore it from the data directory's backup"
                )
            self._secrets = secret[:32], AESGCM(secret[32:])
        return self._secrets

    def key_hash(self, value: str) -> str:
        """The keyed hash of ``value`` (hex): equal values, equal hashes; nothing else can be learnt from it."""
        return hmac.new(self._keys()[0], value.encode("utf-8"), hashlib.sha256).hexdigest()

    def seal(self, value: str) -> Identity:
        """``value`` (``TYPE:KEY``) as the store keeps it: hash, the key masked, and AES-GCM ciphertext (a
        random nonce first)."""
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._keys()[1].encrypt(nonce, value.encode("utf-8"), _CONTEXT)
        return Identity(self.key_hash(value), mask(value.rpartition(":")[2]), sealed)

    def unseal(self, identity: Identity) -> str:
        """The value of a sealed identity; :class:`StoreError` when it was not sealed with this key file."""
        data = bytes(identity.sealed)
        try:
            return self._keys()[1].decrypt(data[:_NONCE], data[_NONCE:], _CONTEXT).decode("utf-8")
        except (InvalidTag, ValueError) as error:
            raise StoreError(
                "an identity key cannot be decrypted with this data directory's identity.key",
                "use the key file the record was stored with",
            ) from error
