"""Names that vulture (run by ``make lint``) cannot see being used, because something outside
gochat's own code calls or reads them: Qt, FastAPI/pydantic, SQLAlchemy, uvicorn, logging.

Vulture matches by name only, so each line whitelists a name wherever it is defined. Add one
only when a framework uses it; code that nothing calls is deleted, never listed here. FastAPI's
route and exception handlers need no line: pyproject.toml's [tool.vulture] ignores functions
decorated with ``@app.*`` or ``@router.*``. This file is read by vulture, never imported.
"""

from typing import Any

_: Any = None

# Qt virtuals, called by Qt on the classes that override them.
_.eventFilter  # installed event filters (desktop/app.py, windows/placement.py)
_.paint  # QStyledItemDelegate.paint (delegates.py)
_.columnCount  # QAbstractItemModel (models.py)
_.headerData  # QAbstractItemModel (models.py)
_.contextMenuEvent  # QWidget (windows/message_view.py)
_.filterAcceptsRow  # QSortFilterProxyModel (rooms/window.py: the room search)
_.format  # QTextLayout.FormatRange.format: Qt reads the format gochat sets (bubbletext.py)

# pydantic response models: FastAPI serialises every field; these are the wire names.
_.createdAt
_.roomId
_.clientMsgId
_.retryAfter  # ErrorOut: the API description's error body (server/api.py)

# SQLAlchemy columns that the database fills (onupdate) and gorm's schema has.
_.updated_at

# asyncio.Protocol callbacks, called by the event loop (bench/ingest.py's lean senders).
_.connection_made
_.data_received
_.connection_lost

# Metrics the cluster layer (cross-instance fan-out over Redis) is to report; nothing calls it
# until that layer lands (server/metrics.py, docs/metrics.md).
_.observe_redis_hop

# uvicorn and logging.
_.capture_signals  # overrides uvicorn.Server.capture_signals (server/runner.py)
_.should_exit  # uvicorn.Server polls it (server/runner.py)
_.msg  # logging.LogRecord.msg, rewritten by a filter (server/runner.py)
_.send_receive_event_to_app  # overrides uvicorn's websockets-sansio protocol (server/frames.py)

# A discovered server's TXT record, kept whole: protocol=<version> (discovery.py).
_.protocol

# Observable state that tests read and production need not: the tests' way in, instead of
# reaching into private attributes. Small and read-only; nothing else is listed for tests.
_.batches  # MessageWriter: batches committed (server/store/writer.py)
_.browsing  # DiscoveryController (desktop/hosting.py)
_.has_tray  # Notifier (desktop/notifications.py)
_.popups  # Notifier: pop-ups actually raised (desktop/notifications.py)
_.is_visible  # ChatSession: whether a room's window is on screen (desktop/session.py)
_.visible_room_names  # RoomsWindow: the list as shown, after search (desktop/windows/rooms.py)

# Wire vocabulary that the transport, not our code, puts on the wire: named so that clients
# and docs/protocol.md speak of it by name (gochat/protocol.py, CloseCode).
_.MESSAGE_TOO_BIG  # 1009, sent by uvicorn/websockets for a frame over the size limit
