"""The hosted server's self-signed certificate: made once, kept private, named whatever the computer is called."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from gochat.certificates import display_fingerprint, make_self_signed, pem_fingerprint, self_signed_in


@pytest.mark.parametrize("computer", ["team-pc", "团队电脑", "Team room 团队", "x" * 300])
def test_any_computer_name_makes_a_certificate(tmp_path: Path, computer: str) -> None:
    pair = make_self_signed(tmp_path / "tls", computer)
    certificate = x509.load_pem_x509_certificate(pair.certfile.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert len(pair.fingerprint) == 64


def test_the_certificate_is_made_once_and_its_key_is_private(tmp_path: Path) -> None:
    folder = tmp_path / "tls"
    first = self_signed_in(folder)
    assert self_signed_in(folder).fingerprint == first.fingerprint  # kept: joiners keep trusting it
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(first.keyfile.stat().st_mode) == 0o600
    assert pem_fingerprint(first.certfile.read_bytes()) == first.fingerprint
    shown = display_fingerprint(first.fingerprint)
    assert shown.count(":") == 31
    assert shown.replace(":", "").lower() == first.fingerprint
