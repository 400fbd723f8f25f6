"""Trusting a gochat server's certificate by its SHA-256 fingerprint (like SSH's host keys). No Qt.

A hosted gochat server serves a self-signed certificate: no CA vouches for it, so the desktop
trusts it on first use by its fingerprint and refuses a changed one. ``pinning_context`` is an
SSL context that skips the CA chain and compares the peer certificate's DER SHA-256 with the
``Pin`` inside the handshake itself: a connection to an impostor fails before a single byte of
HTTP (a password, a token) is written. httpx (through anyio) and websockets (through asyncio)
both make their TLS objects with ``SSLContext.wrap_bio``, so one context pins both.

A server whose certificate a CA vouches for (gochat behind a real TLS proxy) is verified the
ordinary way (``ssl.create_default_context``) and is never pinned or asked about.
"""

from __future__ import annotations

import functools
import ipaddress
import ssl

from gochat.certificates import der_fingerprint

# The names that mean this computer: nothing sent to them crosses a network.
LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


class CertificateChanged(ssl.SSLCertVerificationError):
    """The server showed a certificate other than the one trusted for it."""

    def __init__(self, expected: str, seen: str) -> None:
        message = f"certificate fingerprint {seen} is not the trusted {expected}"
        # Both arguments: anyio reads ``strerror`` of every SSLError it meets.
        super().__init__(1, message)
        self.expected = expected
        self.seen = seen


class Pin:
    """The fingerprint a server must show. ``expected`` None: not trusted yet — the handshake
    only records what it saw (``seen``), and nothing secret may be sent."""

    def __init__(self, expected: str | None = None) -> None:
        self.expected = expected
        self.seen: str | None = None

    @property
    def trusted(self) -> bool:
        return self.expected is not None

    def trust(self, fingerprint: str) -> None:
        self.expected = fingerprint

    def check(self, der: bytes | None) -> None:
        seen = der_fingerprint(der or b"")
        self.seen = seen
        if self.expected is not None and seen != self.expected:
            raise CertificateChanged(self.expected, seen)


def pinning_context(pin: Pin) -> ssl.SSLContext:
    """A client context that trusts exactly the certificate ``pin`` names (any, while it is
    not trusted yet: see ``Pin``), checked as the last step of every handshake."""
    # Not create_default_context: no CA is consulted, and loading them all costs ~0.1 s a time.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # a self-signed certificate names no LAN address we could check
    context.verify_mode = ssl.CERT_NONE  # no CA vouches for it: the fingerprint does

    class PinnedSSLObject(ssl.SSLObject):
        def do_handshake(self) -> None:
            super().do_handshake()  # raises SSLWantReadError until the handshake is complete
            pin.check(self.getpeercert(binary_form=True))

    context.sslobject_class = PinnedSSLObject
    return context


@functools.cache
def verifying_context() -> ssl.SSLContext:
    """The ordinary client context: the system's CAs, the host name checked. One for the app:
    loading the CAs takes ~0.1 s, and a context may serve any number of connections."""
    return ssl.create_default_context()


def certificate_problem(error: BaseException) -> ssl.SSLError | None:
    """The TLS verification failure somewhere in ``error``'s causes (httpx wraps httpcore's
    error, which wraps the ssl module's), or None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        current = current.__cause__ or current.__context__
    return None


def is_loopback(host: str) -> bool:
    """``host`` (as in a URL: IPv6 in brackets) is this computer."""
    bare = host.strip("[]").lower()
    if bare in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False
