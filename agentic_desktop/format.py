"""Turning numbers into words an operator reads at a glance."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """``3d 4h``, ``2h 05m``, ``4m 09s`` or ``12s``."""
    total = int(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
