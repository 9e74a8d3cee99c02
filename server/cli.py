"""Command-line flags shared by ``agentic-server`` and ``agentic-desktop``, and logging set-up."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import queue
import sys
from typing import TYPE_CHECKING, Any

from server import __version__

if TYPE_CHECKING:
    from collections.abc import Sequence

    from server.config import Settings

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The flags both entry points take; each one overrides environment and config file."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", help="address the API listens on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port of the API (default 8000; 0 picks a free one)")
    parser.add_argument("--data-dir", help="where the database, keys and logs live")
    parser.add_argument("--ollama-host", help="Ollama URL (default http://127.0.0.1:11434)")
    parser.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        metavar="ORIGIN",
        help="allow a browser origin, e.g. http://localhost:3000 (repeatable)",
    )
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper)
    parser.add_argument(
        "--web-root",
        metavar="DIR",
        help="serve a built web client (the folder with index.html, e.g. dist/) at /",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings with the given flags on top of environment, config file and defaults."""
    from server.config import Settings

    flags: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "data_dir": args.data_dir,
        "ollama_host": args.ollama_host,
        "cors_origins": args.cors_origins,
        "log_level": args.log_level,
        "web_root": args.web_root,
    }
    return Settings.from_cli(flags)


def parse(prog: str, description: str, argv: Sequence[str] | None) -> Settings:
    """Parse ``argv`` and build the settings; bad values exit with a message, like bad flags."""
    from pydantic import ValidationError

    parser = build_parser(prog, description)
    args = parser.parse_args(argv)
    try:
        return settings_from_args(args)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        parser.error(f"invalid configuration: {problems}")
        raise  # parser.error exits; this keeps type checkers content


def configure_logging(settings: Settings) -> logging.handlers.QueueListener:
    """Log to stderr and to ``logs/agentic.log`` in the data dir (rotated).

    The loop only puts records on a queue; a thread writes them, so logging (the access log
    included) never blocks the loop on a disk or a terminal. Stop the returned listener on exit
    to flush what is queued.
    """
    formatter = logging.Formatter(LOG_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    log_dir = settings.data_dir / "logs"
    problem = None
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_dir.mkdir(exist_ok=True, mode=0o700)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_dir / "agentic.log", maxBytes=5_000_000, backupCount=3, encoding="utf-8"
            )
        )
    except OSError as exc:
        problem = exc
    for handler in handlers:
        handler.setFormatter(formatter)
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
    listener.start()
    root = logging.getLogger()
    root.setLevel(settings.log_level)
    root.addHandler(logging.handlers.QueueHandler(records))
    if settings.log_level != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)
    if problem is not None:
        logging.getLogger(__name__).warning("Not logging to a file in %s: %s", log_dir, problem)
    return listener
