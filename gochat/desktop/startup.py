"""Before Qt starts: the command line, and whether Qt can open a window on this system at all.

Qt 6.5+ needs some X11 libraries (libxcb-cursor0 above all) for its xcb platform that a stock
Debian/Ubuntu desktop may not have. Without them Qt prints "no Qt platform plugin could be
initialized" and aborts, which tells a person nothing they can act on. So when Qt would use
xcb, we look the libraries up first and, if one is missing, say which package to install.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence

# What Qt's xcb platform plugin (libqxcb.so and libQt6XcbQpa) links, beyond libxcb and libX11
# themselves: the name ctypes.util.find_library looks for, and the Debian/Ubuntu package.
XCB_PLATFORM_LIBRARIES = (
    ("xcb-cursor", "libxcb-cursor0"),
    ("xcb-icccm", "libxcb-icccm4"),
    ("xcb-keysyms", "libxcb-keysyms1"),
    ("xcb-image", "libxcb-image0"),
    ("xcb-render-util", "libxcb-render-util0"),
    ("xcb-randr", "libxcb-randr0"),
    ("xcb-shape", "libxcb-shape0"),
    ("xcb-xkb", "libxcb-xkb1"),
    ("xkbcommon-x11", "libxkbcommon-x11-0"),
)

USAGE_EPILOG = """\
The app opens its login window: host a server on this computer, find one on your network, or
type the address of one (host, host:port, http(s)://host[:port], [IPv6]:port).

environment:
  QT_QPA_PLATFORM   Qt's window system: xcb (X11), wayland, offscreen...; unset, Qt chooses
  QT_SCALE_FACTOR   scale the whole interface, e.g. 2 on a very dense screen

On Debian/Ubuntu the X11 platform needs: sudo apt install libxcb-cursor0
"""


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """``gochat [--help]``: prints usage and exits 0 without touching a display. Arguments
    Qt understands (``-platform xcb``, ``-style``...) are left for Qt."""
    parser = argparse.ArgumentParser(
        prog="gochat",
        description="gochat: chat rooms on your own server. The desktop app, which can also host the server.",
        epilog=USAGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    arguments, _qt_arguments = parser.parse_known_args(list(argv)[1:])
    return arguments


def xcb_would_be_used(environ: Mapping[str, str], platform: str, argv: Sequence[str] = ()) -> bool:
    """Whether Qt would try its xcb (X11) platform first, as Qt itself decides."""
    if not platform.startswith("linux"):
        return False
    arguments = list(argv)
    if "-platform" in arguments[:-1]:
        chosen = arguments[arguments.index("-platform") + 1]
    else:
        chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        # A list ("wayland;xcb") is tried in order; "xcb:option=..." carries options.
        return chosen.split(";")[0].split(":")[0].strip() == "xcb"
    # Unset: Qt prefers wayland when the session is a Wayland one, else xcb.
    return not (environ.get("WAYLAND_DISPLAY") or environ.get("XDG_SESSION_TYPE") == "wayland")


def missing_xcb_packages(find_library: Callable[[str], str | None]) -> list[str]:
    """The Debian/Ubuntu packages of the xcb platform's libraries that cannot be found."""
    return [package for library, package in XCB_PLATFORM_LIBRARIES if not find_library(library)]


def platform_problem(
    environ: Mapping[str, str],
    platform: str,
    argv: Sequence[str],
    find_library: Callable[[str], str | None],
) -> str:
    """One line saying what to install for Qt to open a window, or "" when nothing is missing."""
    if not xcb_would_be_used(environ, platform, argv):
        return ""
    missing = missing_xcb_packages(find_library)
    if not missing:
        if not environ.get("DISPLAY") and "-display" not in argv:
            # Qt would abort blaming libxcb-cursor0, which is no help at all here.
            return (
                "gochat cannot open its window: there is no X display to open it on (DISPLAY is not set). "
                "Start it from your desktop session, or set DISPLAY (for example DISPLAY=:0)."
            )
        return ""
    names = ", ".join(missing)
    return (
        f"gochat cannot open its window: Qt's X11 platform needs {names}, which "
        f"{'is' if len(missing) == 1 else 'are'} not installed. "
        f"Install {'it' if len(missing) == 1 else 'them'} with: sudo apt install {' '.join(missing)}"
    )


def check_platform(argv: Sequence[str], display: str | None = None) -> str:
    """``platform_problem`` for this process (as if on ``display``, when given)."""
    import ctypes.util
    import os

    environ = dict(os.environ) if display is None else {**os.environ, "DISPLAY": display}
    return platform_problem(environ, sys.platform, argv, ctypes.util.find_library)
