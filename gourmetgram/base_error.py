"""The base of every error this project raises on purpose; each part derives its own base from it."""


class GourmetGramError(Exception):
    """An error of GourmetGram's own: the foundation's errors derive from it directly, each part's through its
    part's base (classifier_fn.function_error.FunctionError, ingest.frontend_error.FrontendError,
    minio_config.config_error.MinioConfigError, gourmetgram_tools.tool_error.ToolError)."""
