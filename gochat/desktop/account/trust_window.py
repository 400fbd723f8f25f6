"""The questions and the warning about a server's transport security: trusting a certificate on
first use (like SSH), sending a password without encryption, a changed certificate refused."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from gochat.desktop.windows.fingerprint import fingerprint_lines

TRUST_BUTTON = "Trust and connect"
CLEAR_TEXT_BUTTON = "Send without encryption"
FORGET_BUTTON = "Forget the certificate trusted before"
# The object name of the button that says yes (its text may gain a "&" shortcut on some platforms).
YES = "yes"


def _box(icon: QMessageBox.Icon, title: str, text: str, details: str, parent: QWidget | None) -> QMessageBox:
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.NoButton, parent)
    box.setInformativeText(details)
    box.setObjectName("securityQuestion")
    return box


def trust_box(server: str, fingerprint: str, parent: QWidget | None = None) -> QMessageBox:
    """First connection to a server whose certificate no authority vouches for: show its
    fingerprint to compare with the host's (their hosting panel shows it). Cancel is the default."""
    box = _box(
        QMessageBox.Icon.Question,
        "Trust this server? — gochat",
        f"First connection to {server}. Is this the server you mean?",
        "Its certificate's SHA-256 fingerprint is:\n\n"
        f"{fingerprint_lines(fingerprint)}\n\n"
        "Ask its host to read you the fingerprint in their hosting panel: if it is the same, trust it. "
        "gochat remembers it, and refuses the server if it ever shows another.",
        parent,
    )
    box.addButton(TRUST_BUTTON, QMessageBox.ButtonRole.AcceptRole).setObjectName(YES)
    box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
    return box


def clear_text_box(server: str, parent: QWidget | None = None) -> QMessageBox:
    """The server speaks only plain HTTP: sending the password anyway is the person's call."""
    box = _box(
        QMessageBox.Icon.Warning,
        "No encryption — gochat",
        f"{server} does not use encryption (HTTPS).",
        "Your password and your messages would cross the network in clear: anyone on it could read "
        "them. Send them anyway?",
        parent,
    )
    box.addButton(CLEAR_TEXT_BUTTON, QMessageBox.ButtonRole.AcceptRole).setObjectName(YES)
    box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
    return box


def changed_box(server: str, trusted: str, seen: str, parent: QWidget | None = None) -> QMessageBox:
    """A server showed another certificate than the one trusted for it: refused, and why."""
    box = _box(
        QMessageBox.Icon.Warning,
        "Certificate changed — gochat",
        f"{server} is not showing the certificate you trusted for it. Not connected; nothing was sent.",
        "Someone else may be pretending to be that server. If its host says they made a new "
        "certificate, compare its fingerprint with the one in their hosting panel:\n\n"
        f"now:\n{fingerprint_lines(seen)}\n\ntrusted before:\n{fingerprint_lines(trusted)}\n\n"
        "If they match, forget the one trusted before: the next login asks about the new one.",
        parent,
    )
    box.addButton(FORGET_BUTTON, QMessageBox.ButtonRole.DestructiveRole).setObjectName(YES)
    box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Ok))
    return box
