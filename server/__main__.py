"""Headless entry point: ``python -m server`` / ``agentic-server``. Never imports Qt."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING

from server.cli import configure_logging, parse

if TYPE_CHECKING:
    from collections.abc import Sequence

    from server.config import Settings

log = logging.getLogger("server")


async def serve(settings: Settings) -> int:
    """Run the backend and the API until SIGINT or SIGTERM; returns the exit status."""
    from server.api.site import ApiServer, PortInUse
    from server.backend import Backend, BackendError
    from server.runtime import clear_runtime, freeze_startup_objects, write_runtime

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    backend = Backend(settings)
    api = ApiServer(backend)
    try:
        await backend.start()
        url = await api.start()
    except (BackendError, PortInUse) as exc:
        log.error("%s", exc)
        await backend.stop()
        return 2
    await asyncio.to_thread(write_runtime, settings.data_dir, url=url, mode="headless")
    freeze_startup_objects()
    try:
        await stop.wait()
        log.info("Shutting down")
    finally:
        await api.stop()
        await backend.stop()
        await asyncio.to_thread(clear_runtime, settings.data_dir)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, set up logging and serve (or run ``secrets rotate-key``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["secrets"]:
        from server import secrets_cli

        return secrets_cli.main(args[1:])
    settings = parse("agentic-server", "Run the Agentic Desktop backend and API without a window.", args)
    listener = configure_logging(settings)
    from server.runtime import tune_interpreter

    tune_interpreter()
    try:
        return asyncio.run(serve(settings))
    finally:
        listener.stop()


if __name__ == "__main__":
    import multiprocessing

    # The bundled server's child processes (the vector store) start through this same program.
    multiprocessing.freeze_support()
    sys.exit(main())
