"""The base of every error this project raises on purpose; each part derives its own base from it."""


class GourmetGramError(Exception):
    """An error of GourmetGram's own: the foundation's errors derive from it directly, each part's through its
    part's base (classifier_fn.errors.FunctionError, ingest.errors.FrontendError,
    minio_config.errors.MinioConfigError, gourmetgram_tools.errors.ToolError)."""
