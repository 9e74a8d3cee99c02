"""Behaviour of the backend, free of any transport: the API and the window both call these."""
