"""The base of the errors of MinIO's and NATS's configuration."""

from gourmetgram.base_error import GourmetGramError


class MinioConfigError(GourmetGramError):
    """An error while reading or applying MinIO's (and the NATS stream's) wanted configuration."""
