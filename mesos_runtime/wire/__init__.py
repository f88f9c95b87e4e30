"""Wire records and formats shared by every part of the runtime; imports nothing else of it."""

from .record import Record, WireError, record, repeated, required
from .resources import Resources

__all__ = ["Record", "Resources", "WireError", "record", "repeated", "required"]
