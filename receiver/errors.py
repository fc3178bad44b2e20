"""Receiver errors, mapped to HTTP in one place (receiver.api.middleware).

ReceiverError
├── UnknownSource        404  no adapter for /api/v1/alerts/{source}
├── PayloadError         400  body is not a valid payload (message names the field)
├── PayloadTooLarge      413  body over the size limit
├── UnsupportedMediaType 415  content type other than JSON (or text/plain where allowed)
├── StoreUnavailable     503  Redis unreachable or too slow: the sender must retry
├── Overloaded           503  at the concurrency limit (load shed): retry after
├── IncidentNotFound     404
├── TransitionRefused    409  e.g. acknowledging a resolved incident
├── RulesRejected        422  a rules reload failed (the old rules keep running)
└── Unauthorized         401  missing or wrong bearer token / ack signature
"""

from __future__ import annotations

from typing import Any


class ReceiverError(Exception):
    """Base of every error the receiver turns into an HTTP answer."""

    status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class UnknownSource(ReceiverError):
    status = 404


class PayloadError(ReceiverError):
    status = 400


class PayloadTooLarge(ReceiverError):
    status = 413


class UnsupportedMediaType(ReceiverError):
    status = 415


class StoreUnavailable(ReceiverError):
    status = 503


class Overloaded(ReceiverError):
    status = 503


class IncidentNotFound(ReceiverError):
    status = 404


class TransitionRefused(ReceiverError):
    status = 409


class RulesRejected(ReceiverError):
    status = 422


class Unauthorized(ReceiverError):
    status = 401
