"""A photo that can never be classified. (Transient trouble is the store's `StoreUnavailable`.)"""

from classifier_fn.function_error import FunctionError


class Rejected(FunctionError):
    """The object can never be classified; `reason` is written for a person and goes to quarantine."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
