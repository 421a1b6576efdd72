"""Structured logs: one JSON object per line on stdout, tagged with the request id.

Only the standard library is imported, so that the JWKS function can log too.
Callers pass identifiers (user ids, addresses, reasons), never a password, a
token, a token hash or a password hash.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from contextvars import ContextVar
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

logger = logging.getLogger("auth")

_RECORD_FIELDS = "fields"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(getattr(record, _RECORD_FIELDS, None) or {})
        if record.exc_info and record.exc_info[0] is not None:
            # The type and the stack, not the message: a database error's message can quote parameters.
            entry["exception"] = record.exc_info[0].__name__
            entry["stack"] = "".join(traceback.format_tb(record.exc_info[2]))
        return json.dumps(entry, default=str, ensure_ascii=False)


class _StdoutHandler(logging.Handler):
    """Writes to whatever `sys.stdout` is at the time (Vercel and Lambda collect it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def configure_logging() -> None:
    """Give the `auth` logger its JSON handler once per process (idempotent)."""
    if any(isinstance(handler, _StdoutHandler) for handler in logger.handlers):
        return
    handler = _StdoutHandler()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def log_event(event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """One security or request event: `log_event("login_failure", user_id=..., ip=...)`."""
    logger.log(level, event, extra={_RECORD_FIELDS: {"event": event, **fields}})
