"""One panel per domain in the sidebar."""
