"""Logging: JSON lines when stderr is not a terminal (plain text otherwise), secrets redacted.

Every handler gets `RedactFilter`, so a token in a URL, a cookie or a password in a message never
reaches the log, whoever logged it (our code, uvicorn, a library).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from backend.ops import logcontext

# (pattern, replacement): each keeps the key and hides the value.
_REDACTIONS: list[tuple[re.Pattern[str], str]] = [
    # key=value in URLs, query strings, cookies and reprs (`?token=...`, `tandem_login=...`)
    (
        re.compile(
            r"(?i)\b((?:[a-z_]*token|password|passwd|secret|api_key|apikey|authorization|"
            r"tandem_login|tandem_guest_[A-Za-z0-9_-]*|tandem_csrf|csrf_token|cookie)=)([^&\s'\",;)]+)"
        ),
        r"\1[REDACTED]",
    ),
    # "key": "value" / 'key': 'value' in JSON and dict reprs
    (
        re.compile(
            r"(?i)([\"'](?:[a-z_]*token|password|passwd|secret|authorization|cookie|set-cookie)[\"']\s*:\s*)"
            r"([\"'])(.*?)\2"
        ),
        r"\1\2[REDACTED]\2",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [REDACTED]"),
    (re.compile(r"(/join/)[A-Za-z0-9_-]{8,}"), r"\1[REDACTED]"),
    # credentials inside URLs: scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/\s@]+:)([^@\s]+)(@)"), r"\1[REDACTED]\3"),
]


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactFilter(logging.Filter):
    """Renders the message once, redacted, so no formatter can put the raw args back."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log it as it is rather than lose the line
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(logcontext.current())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = logcontext.current()
        if context:
            line += " [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]"
        return line


def configure_logging(level: str, fmt: Literal["auto", "json", "plain"] = "auto") -> None:
    """Root handler on stderr; uvicorn's loggers propagate to it (run uvicorn with log_config=None)."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else PlainFormatter())
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
