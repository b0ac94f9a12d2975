"""Values kept encrypted at rest with the platform's key: secret configs, the tokens of
workers' OAuth clients.

The key is ``[web] encryption_key`` or, when empty, one made once (atomically) in the
keys directory, mode 0600. Fernet: AES-128-CBC with an HMAC, so a changed or foreign
value is refused, never decrypted into garbage.
"""

from __future__ import annotations

import os

from cryptography.fernet import Fernet, InvalidToken

from actors.config import Config

KEY_FILE = "encryption.key"


def fernet(config: Config) -> Fernet:
    key = config.web.encryption_key
    if not key:
        path = config.keys_dir / KEY_FILE
        if not path.exists():
            config.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(Fernet.generate_key())
            except FileExistsError:
                pass                     # another process made it first
        key = path.read_text().strip()
    return Fernet(key.encode() if isinstance(key, str) else key)


def encrypt(config: Config, text: str) -> str:
    return fernet(config).encrypt(text.encode()).decode()


def decrypt(config: Config, token: str) -> str | None:
    """The plain text, or None when the value was not made with this key (or was changed)."""
    try:
        return fernet(config).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None
