"""The process's file-descriptor limit: raised to what the system allows, and the share of it
that connections may use."""

from __future__ import annotations

import resource

# Descriptors kept out of the connection budget: the listening socket, the database (SQLite
# files or MariaDB connections), Redis, log files, the event loop's own, the desktop's when
# embedded. Without them, a full house of connections would leave the server unable to open
# its database, and accept() failing with EMFILE would refuse everyone alike.
RESERVED_DESCRIPTORS = 512


def raise_descriptor_limit() -> int:
    """Raise the soft limit on open files to the hard limit; the soft limit now in force.

    Harmless when the server is embedded in the desktop: the limit only bounds how many files
    the process may hold, and the desktop holds few. Where the hard limit cannot be read or set
    (an unusual platform or sandbox), the limit stays as it was.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return soft
        return wanted
    return soft


def connection_budget(max_connections: int, descriptors: int) -> int:
    """The connection cap in force: ``max_connections``, lowered to leave the reserved
    descriptors free (never below 1)."""
    return max(1, min(max_connections, descriptors - RESERVED_DESCRIPTORS))
