"""Domain errors. Each subclasses a built-in so callers may catch broadly,
and each carries a message a person can act on (pages show it as is)."""
from __future__ import annotations


class ValidationError(ValueError):
    """Input that cannot be used: wrong CRS, invalid geometry, bad value."""


class OutsideAreaError(ValidationError):
    """A location lies outside every grid of the street (beyond tolerance)."""


class IllegalTransitionError(ValueError):
    """A ticket action that its current state does not allow."""


class ConcurrentEditError(RuntimeError):
    """Someone else changed the record since it was read (optimistic lock)."""


class NotFoundError(LookupError):
    """The record asked for does not exist (or is outside the caller's scope)."""
