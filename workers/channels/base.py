"""Channel errors (alertmanager's Retrier: retry 5xx and timeouts, stop on 4xx).

SendError
├── RetryableSendError   try again after a backoff
└── PermanentSendError   the channel refused the page: misconfiguration, do not retry
"""

from __future__ import annotations


class SendError(Exception):
    pass


class RetryableSendError(SendError):
    pass


class PermanentSendError(SendError):
    pass
