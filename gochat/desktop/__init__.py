"""The gochat desktop client: Qt windows over a websocket + REST client, on qasync."""
