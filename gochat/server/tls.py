"""Checking ``--certfile``/``--keyfile`` before serving, so a wrong file is one clear line.

uvicorn loads the pair only once it starts serving, and a missing file or a key of another
certificate then ends the process with a traceback that names neither file. This reads each
file and says which one is wrong, and how.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization


def _read(path: str, what: str) -> tuple[bytes | None, str | None]:
    try:
        return Path(path).read_bytes(), None
    except OSError as exc:
        return None, f"cannot read the TLS {what} {path}: {exc.strerror or exc}"


def certificate_problem(certfile: str, keyfile: str) -> str | None:
    """What is wrong with this certificate and key for serving https, or None when they serve."""
    certificate, problem = _read(certfile, "certificate")
    if certificate is None:
        return problem
    key, problem = _read(keyfile, "key")
    if key is None:
        return problem
    try:
        x509.load_pem_x509_certificate(certificate)
    except ValueError:
        return f"the TLS certificate {certfile} is not a PEM certificate"
    try:
        serialization.load_pem_private_key(key, password=None)
    except TypeError:
        return f"the TLS key {keyfile} is protected by a password; gochat needs it without one"
    except (ValueError, UnsupportedAlgorithm):
        return f"the TLS key {keyfile} is not a PEM private key"
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            return f"the TLS key {keyfile} is not the key of the certificate {certfile}"
        return f"cannot use the TLS certificate {certfile} with the key {keyfile}: {exc.reason or exc}"
    return None
