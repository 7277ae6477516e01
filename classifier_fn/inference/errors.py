"""A photo that can never be classified. (Transient trouble is the store's `StoreUnavailable`.)"""


class Rejected(Exception):
    """The object can never be classified; `reason` is written for a person and goes to quarantine."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
