"""Finding resources/ (stylesheet, icons) in a checkout or an installed copy."""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon


@cache
def resources_dir() -> Path:
    candidates = [
        os.environ.get("GOCHAT_RESOURCES", ""),
        str(Path(__file__).resolve().parents[2] / "resources"),  # a checkout / editable install
        str(Path(sys.prefix) / "share" / "gochat" / "resources"),  # pip install . (data-files)
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "style.qss").is_file():
            return Path(candidate)
    raise FileNotFoundError("gochat's resources/ folder was not found; set GOCHAT_RESOURCES")


def stylesheet() -> str:
    return (resources_dir() / "style.qss").read_text(encoding="utf-8")


def app_icon() -> QIcon:
    return QIcon(str(resources_dir() / "icons" / "gochat.svg"))
