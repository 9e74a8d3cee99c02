"""The Qt shell of Agentic Desktop: window, panels and tray over the same backend as the API."""
