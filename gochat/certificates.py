"""TLS certificates the way gochat uses them: a self-signed one for a hosted server, and the
SHA-256 fingerprint by which a desktop trusts a server on first use (like SSH's host keys).

Server and desktop share this module: the host shows the fingerprint of the certificate it
serves, LAN discovery advertises it (TXT ``fp``), and a joiner compares it with the one its
TLS handshake received.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Long-lived: a self-signed certificate is trusted by its fingerprint, not by a CA's dates, and
# a renewal would look to every joiner exactly like an impostor's certificate.
SELF_SIGNED_DAYS = 20 * 365
CERT_NAME = "server-cert.pem"
KEY_NAME = "server-key.pem"


@dataclass(frozen=True, slots=True)
class CertificatePair:
    certfile: Path
    keyfile: Path

    @property
    def fingerprint(self) -> str:
        return pem_fingerprint(self.certfile.read_bytes())


def der_fingerprint(der: bytes) -> str:
    """The SHA-256 of a certificate's DER bytes, lower-case hex (64 characters, no colons)."""
    return hashlib.sha256(der).hexdigest()


def pem_fingerprint(pem: bytes) -> str:
    certificate = x509.load_pem_x509_certificate(pem)
    return der_fingerprint(certificate.public_bytes(serialization.Encoding.DER))


def display_fingerprint(fingerprint: str) -> str:
    """``ab12cd…`` as ``AB:12:CD:…``, the way browsers and ssh show one to a person."""
    upper = fingerprint.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))


def make_self_signed(directory: Path, common_name: str | None = None) -> CertificatePair:
    """A new self-signed certificate and its private key (ECDSA P-256), written into
    ``directory`` (created 0700); the key file is 0600 from the moment it exists."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = common_name or socket.gethostname() or "gochat"
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64])])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(dns) for dns in (_dns_name(name), "localhost") if dns]
    alt_names += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pair = CertificatePair(directory / CERT_NAME, directory / KEY_NAME)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(pair.keyfile, key_pem)
    _write_private(pair.certfile, certificate.public_bytes(serialization.Encoding.PEM))
    return pair


def _dns_name(name: str) -> str | None:
    """``name`` as a DNS name a certificate may carry (ASCII, IDNA for 团队-pc), or None when it
    cannot be one: it is then left out, since the certificate is trusted by fingerprint anyway."""
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return ascii_name if 0 < len(ascii_name) <= 253 and " " not in ascii_name else None


def self_signed_in(directory: Path, common_name: str | None = None) -> CertificatePair:
    """The certificate kept in ``directory``, made on first use: the same one every later
    start, so joiners who trusted it keep trusting it."""
    pair = CertificatePair(directory / CERT_NAME, directory / KEY_NAME)
    if pair.certfile.is_file() and pair.keyfile.is_file():
        return pair
    return make_self_signed(directory, common_name)


def _write_private(path: Path, data: bytes) -> None:
    # Written to a new file opened 0600 and renamed into place: never readable by others, even
    # for an instant, and never half-written if the app dies meanwhile.
    temporary = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(temporary, path)
