"""Domain errors: what went wrong, in words a customer or operator can act on.

`code` is stable and machine-readable (tools and APIs map it to responses); the message
is for people.
"""


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class NotFound(DomainError):
    """Raised alike for a record that does not exist and one that belongs to someone else,
    so that callers cannot probe for other customers' data."""

    code = "not_found"


class InvalidTransition(DomainError):
    code = "invalid_transition"


class InvalidInput(DomainError):
    code = "invalid_input"


class ReturnNotAllowed(DomainError):
    code = "return_not_allowed"
