"""The HTTP and WebSocket API, served by aiohttp inside the app's event loop."""
