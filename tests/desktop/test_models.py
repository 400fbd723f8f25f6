"""The Qt models over the state: what they announce to views."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex
from pytestqt.qtbot import QtBot

from gochat.desktop.chat.models import MessageListModel, merge_insertions
from gochat.desktop.state import Inserted, Removed, Timeline, Updated
from tests.desktop.test_state import ME, wire


def test_a_run_of_insertions_filling_one_block_is_announced_once() -> None:
    assert merge_insertions([Inserted(5, 1), Inserted(6, 1), Inserted(7, 1)]) == [Inserted(5, 3)]
    assert merge_insertions([Inserted(0, 1), Inserted(1, 1)]) == [Inserted(0, 2)]  # a page of older history
    assert merge_insertions([Inserted(5, 1), Inserted(5, 1)]) == [Inserted(5, 2)]  # the later one landed first
    # Apart, or with anything else between, they stay separate.
    assert merge_insertions([Inserted(5, 1), Inserted(9, 1)]) == [Inserted(5, 1), Inserted(9, 1)]
    assert merge_insertions([Inserted(5, 1), Removed(6), Inserted(6, 1)]) == [
        Inserted(5, 1),
        Removed(6),
        Inserted(6, 1),
    ]
    assert merge_insertions([Updated(2), Inserted(3, 1), Inserted(4, 2)]) == [Updated(2), Inserted(3, 3)]


def test_the_model_announces_pages_and_trims_as_single_changes_and_keeps_measurements_in_step(qtbot: QtBot) -> None:
    timeline = Timeline(me=ME)
    model = MessageListModel(timeline)
    announced: list[tuple[str, int, int]] = []
    model.rowsInserted.connect(lambda _p, first, last: announced.append(("inserted", first, last)))
    model.rowsRemoved.connect(lambda _p, first, last: announced.append(("removed", first, last)))

    model.apply(timeline.add_history([wire(i) for i in range(51, 101)], has_older=True))
    model.set_measured(49, "newest row's size")
    model.apply(timeline.add_history([wire(i) for i in range(1, 51)]))
    assert announced == [("inserted", 0, 49), ("inserted", 0, 49)]
    assert model.rowCount() == 100
    assert model.measured(99) == "newest row's size"  # moved down with its row

    model.apply(timeline.drop_older(30))
    assert announced[-1] == ("removed", 0, 69)
    assert model.rowCount() == 30
    assert [model.item(r).message_id for r in range(30)] == list(range(71, 101))
    assert model.measured(29) == "newest row's size"
    assert model.measured(0) is None
    assert model.rowCount(QModelIndex()) == len(timeline)
