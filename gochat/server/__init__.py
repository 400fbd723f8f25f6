"""The gochat server: REST + WebSocket on one port, headless or embedded in the desktop app."""
