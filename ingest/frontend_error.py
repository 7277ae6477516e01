"""The base of the frontend's own errors."""

from gourmetgram.base_error import GourmetGramError


class FrontendError(GourmetGramError):
    """An error of the web frontend (ingest): a request it refuses, or a read it cannot make now."""
