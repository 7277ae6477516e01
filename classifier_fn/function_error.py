"""The base of the function's own errors."""

from gourmetgram.base_error import GourmetGramError


class FunctionError(GourmetGramError):
    """An error of the classifier function (classifier_fn): a request refused, a photo that cannot be
    classified, an event that cannot be read, a start-up it must not make."""
