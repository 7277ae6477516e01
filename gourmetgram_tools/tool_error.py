"""The base of the tools' own errors."""

from gourmetgram.base_error import GourmetGramError


class ToolError(GourmetGramError):
    """An error of the `gourmetgram` command and the local stack it runs (gourmetgram_tools)."""
