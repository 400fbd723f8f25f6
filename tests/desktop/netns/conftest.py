"""Tests that use multicast DNS. They run only inside a network namespace that
tests/test_discovery.py creates (GOCHAT_IN_NETNS=1), so mDNS never leaves this machine."""

import os

IN_NETNS = os.environ.get("GOCHAT_IN_NETNS") == "1"

# Outside the namespace these files are not even collected: test_discovery.py runs them inside.
collect_ignore_glob = [] if IN_NETNS else ["test_*.py"]
