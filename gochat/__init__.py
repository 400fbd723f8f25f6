"""gochat: a self-hosted chat room with a desktop client and an embeddable server."""

__version__ = "0.1.0"
