"""DKIM signatures for outgoing mail (dkimpy), with RSA (2048 bits, PEM) or ed25519 keys.

The signature covers From, To, Subject, Date, Message-ID and both List-Unsubscribe
headers (RFC 8058 wants them signed; dkimpy's own default list lacks
List-Unsubscribe-Post), and is made over the exact bytes that are then sent, so no
refolding can break it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from makegood.channel_config import DkimSettings
from makegood.config import Settings
from makegood.core.errors import ConfigurationError
from makegood.messaging import mime
from makegood.messaging.rendering import Letter

SIGNED = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"reply-to",
    b"mime-version",
    b"content-type",
    b"content-language",
)


@dataclass(frozen=True)
class Signer:
    domain: bytes
    selector: bytes
    key: bytes  # as dkimpy takes it: PEM for RSA, the base64 raw key for ed25519
    algorithm: bytes

    def sign(self, raw: bytes) -> bytes:
        """The message with its DKIM-Signature header first."""
        header: bytes = dkim.sign(
            raw,
            self.selector,
            self.domain,
            self.key,
            signature_algorithm=self.algorithm,
            include_headers=list(SIGNED),
        )
        return header + raw


def signer(settings: DkimSettings) -> Signer | None:
    """The signer ``[dkim]`` describes, or None when it is not set."""
    if not (settings.domain or settings.selector or settings.private_key_file):
        return None
    missing = [
        f"dkim.{name}"
        for name, value in (
            ("domain", settings.domain),
            ("selector", settings.selector),
            ("private_key_file", settings.private_key_file),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(f"{', '.join(missing)} must be set too, or none of [dkim]")
    assert settings.private_key_file is not None
    key, algorithm = _load(settings.private_key_file)
    return Signer(settings.domain.encode(), settings.selector.encode(), key, algorithm)


def _load(path: Path) -> tuple[bytes, bytes]:
    try:
        pem = path.expanduser().read_bytes()
        private = serialization.load_pem_private_key(pem, password=None)
    except OSError as exc:
        raise ConfigurationError(
            f"dkim.private_key_file: {path} cannot be read ({exc.strerror})"
        ) from None
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"dkim.private_key_file: {path} is not an unencrypted PEM private key ({exc})"
        ) from None
    if isinstance(private, rsa.RSAPrivateKey):
        if private.key_size < 2048:
            raise ConfigurationError(
                f"dkim.private_key_file: {path} is a {private.key_size}-bit RSA key; use 2048 bits"
            )
        pkcs1 = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return pkcs1, b"rsa-sha256"
    if isinstance(private, ed25519.Ed25519PrivateKey):
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return base64.b64encode(raw), b"ed25519-sha256"
    raise ConfigurationError(f"dkim.private_key_file: {path} is neither an RSA nor an ed25519 key")


def new_key(path: Path, algorithm: str) -> str:
    """Write a new private key (mode 0600) to ``path``; answers the DNS TXT record's
    value to publish at SELECTOR._domainkey.DOMAIN."""
    if path.exists():
        raise ConfigurationError(f"--out: {path} exists; a key is never overwritten")
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if algorithm == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        private = ed25519.Ed25519PrivateKey.generate()
        public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(pem)
    kind = "rsa" if algorithm == "rsa" else "ed25519"
    return f"v=DKIM1; k={kind}; p={base64.b64encode(public).decode()}"


# dkimpy's DNS lookup: the TXT record at a name (bytes, ending in a dot), or None.
TxtLookup = Callable[..., bytes | None]


def sample_verifies(
    settings: Settings, record: str | None, lookup: TxtLookup | None = None
) -> tuple[bool, str]:
    """Sign a sample message as the sender would and verify it with dkimpy, against
    ``record`` or the TXT record DNS publishes (asked through ``lookup``, dkimpy's own
    resolver unless one is given). No record there is said as such, not as a key
    that does not match."""
    made = signer(settings.dkim)
    if made is None:
        raise ConfigurationError("[dkim] is not set: domain, selector and private_key_file")
    signed = made.sign(_sample(settings))
    name = made.selector + b"._domainkey." + made.domain
    where = "the given record" if record is not None else f"the TXT record at {name.decode()}"
    if record is not None:
        txt: bytes | None = record.encode()
    else:
        try:
            txt = (lookup or dkim.get_txt)(name + b".", timeout=5)
        except dkim.DnsTimeoutError as exc:
            return False, f"DNS did not answer for {name.decode()} ({exc})"
        if not txt:
            return False, f"no DKIM record found at {name.decode()}"

    def published(asked: bytes, timeout: int = 5) -> bytes | None:
        return txt if asked.rstrip(b".") == name else None

    ok = bool(dkim.verify(signed, dnsfunc=published))
    return ok, f"{'matches' if ok else 'does not match'} {where}"


def _sample(settings: Settings) -> bytes:
    """A message as the sender would build it, to be signed and checked."""
    sender = mime.parse_mailbox(settings.company.sender, "company.sender")
    letter = Letter(subject="DKIM check", text="A sample.", html="<p>A sample.</p>", locale="en-US")
    mail = mime.build(
        letter,
        sender=sender,
        reply_to=sender,
        to_name="Check",
        to_address="check@example.com",
        msg_id=mime.message_id("dkim-check", sender),
        date=datetime.now(UTC),
        unsubscribe_url=f"{settings.base_url.rstrip('/')}/unsubscribe/sample",
    )
    return mail.raw
