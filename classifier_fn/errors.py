"""The function's two kinds of failure: permanent (the object can never be classified) and transient."""


class Rejected(Exception):
    """The object can never be classified; `reason` is written for a person and goes to quarantine."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Transient(Exception):
    """Worth retrying later (MinIO unreachable, a timeout)."""
