"""The one error the wire layer raises: a request or message that does not decode."""

from __future__ import annotations


class WireError(ValueError):
    """A request or message that does not decode: the message says what to change."""
