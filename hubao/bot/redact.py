"""Configured secrets never reach the logs.

:func:`collect_secrets` walks the validated config and picks every value that is a secret
(app secrets, tokens, AES keys, webhook keys and URLs, export signing key, the database
password). :func:`install_redaction` registers them with one process-wide :class:`SecretRedactor`,
applied to every log record when it is created (a record factory), so it covers handlers
added later — pytest's, a JSON shipper's — and exception tracebacks too. The composition
root calls ``install_redaction(collect_secrets(config))`` once per App.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel

MASK = "***"
MIN_SECRET = 8  # shorter values are too likely to be ordinary words
_SECRET_NAME = re.compile(r"secret|token|key|password|passwd|aes|webhook|credential", re.IGNORECASE)
_URL_SECRET_PARAMS = ("access_token", "key", "token", "secret", "sign")


def collect_secrets(config: Any) -> set[str]:
    """Every secret value in ``config`` (a :class:`hubao.bot.config.Config`)."""
    found: set[str] = set()
    _walk(config, "", found)
    storage = getattr(getattr(config, "storage", None), "url", "")
    found |= _url_secrets(storage)
    return {value for value in found if len(value) >= MIN_SECRET}


def _walk(node: Any, name: str, found: set[str]) -> None:
    if isinstance(node, BaseModel):
        for field in type(node).model_fields:
            _walk(getattr(node, field), field, found)
    elif isinstance(node, dict):
        for key, value in node.items():
            _walk(value, name if _SECRET_NAME.search(name) else str(key), found)
    elif isinstance(node, list | tuple):
        for item in node:
            _walk(item, name, found)
    elif isinstance(node, str) and node:
        if _SECRET_NAME.search(name) and not name.endswith("_id"):  # webhook_chat_id is no secret
            found.add(node)
        found |= _url_secrets(node)


def _url_secrets(value: str) -> set[str]:
    if "://" not in value:
        return set()
    try:
        parts = urlsplit(value)
    except ValueError:
        return set()
    found = {v for k, v in parse_qsl(parts.query) if k.lower() in _URL_SECRET_PARAMS and v}
    if parts.password:
        found.add(parts.password)
    return found


class SecretRedactor(logging.Filter):
    """A logging filter that replaces known secret values in a record by ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = set(secrets)
        self._pattern: re.Pattern[str] | None = None

    def add(self, secrets: Iterable[str]) -> None:
        new = {s for s in secrets if len(s) >= MIN_SECRET} - self.secrets
        if new:
            self.secrets |= new
            # Longest first, so a secret containing another is masked whole.
            ordered = sorted(self.secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def redact(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw parts, masked
            message = f"{record.msg} {record.args}"
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


REDACTOR = SecretRedactor()
_installed = False


def install_redaction(secrets: Iterable[str]) -> SecretRedactor:
    """Mask ``secrets`` in every log record of this process from now on."""
    global _installed
    REDACTOR.add(secrets)
    if not _installed:
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            REDACTOR.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
    return REDACTOR
