"""Structured JSON logs on stdout (Cloud Logging reads `severity`), with secrets scrubbed."""

from __future__ import annotations

import json
import logging
import re
import sys

_SECRET_PATTERNS = re.compile(r"(rpa_[A-Za-z0-9]+|hf_[A-Za-z0-9]{10,}|do_live_[A-Za-z0-9_-]+|Bearer\s+\S+)")


def scrub(text: str) -> str:
    return _SECRET_PATTERNS.sub("[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"severity": record.levelname, "logger": record.name, "message": scrub(record.getMessage())}
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry)


def configure_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_orchestrator", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler._orchestrator = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # huggingface_hub's own httpx fork
    logging.getLogger("waitress").setLevel(logging.WARNING)
