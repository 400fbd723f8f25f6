"""The notifier: remembers every message it was told of, but raises at most one pop-up (tray
message or taskbar alert) per quiet period, so a busy room is not a flood."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from gochat.desktop.notifications import KEEP_SHOWN, QUIET_SECONDS, Notifier


def test_a_burst_raises_one_pop_up_and_a_click_opens_the_newest(qtbot: QtBot) -> None:
    now = [100.0]
    notifier = Notifier(clock=lambda: now[0])
    window = QWidget()
    qtbot.addWidget(window)
    window.setWindowTitle("rooms")
    for message_id in range(1, 6):
        notifier.notify(7, message_id, "alice in news", f"m{message_id}", window)
    assert notifier.popups == 1
    assert [n.message_id for n in notifier.shown] == [1, 2, 3, 4, 5]
    now[0] += QUIET_SECONDS
    notifier.notify(7, 6, "alice in news", "m6", window)
    assert notifier.popups == 2
    if not notifier.has_tray:
        assert notifier.alerted == ["rooms", "rooms"]
    with qtbot.wait_signal(notifier.activated) as clicked:
        notifier._clicked()
    assert clicked.args == [7, 6]
    notifier.close()


def test_what_it_remembers_is_bounded(qtbot: QtBot) -> None:
    notifier = Notifier(clock=lambda: 0.0)
    for message_id in range(KEEP_SHOWN * 3):
        notifier.notify(1, message_id, "t", "x" * 1000)
    assert len(notifier.shown) == KEEP_SHOWN
    assert notifier.shown[-1].message_id == KEEP_SHOWN * 3 - 1
    assert len(notifier.shown[-1].text) == 140
    notifier.close()
