"""``python -m gochat.desktop`` (and the ``gochat`` script): the desktop app."""

import sys

from gochat.desktop.app import main

if __name__ == "__main__":
    sys.exit(main())
