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


# The demo model's training data (`modelserver.demo.world`) quotes these too: a message the model
# never saw in training changed its answer (v28 invented a return refusal for an unknown order).
def order_not_found(number: str) -> NotFound:
    return NotFound(
        f"No order {number!r} was found on your account. Check the number in your "
        "order confirmation email, or ask for your recent orders."
    )


def return_not_found(rma_number: str) -> NotFound:
    return NotFound(
        f"No return {rma_number!r} was found on your account. RMA numbers look like RMA-100234-1."
    )
