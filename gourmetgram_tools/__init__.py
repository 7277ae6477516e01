"""The tools on top: the `gourmetgram` command, the local runner (`up`), the bench and the operator's jobs.

They may import every part (`ingest`, `classifier_fn`, `minio_config`) and the foundation; nothing below
imports them.
"""

from gourmetgram_tools.commands import main

__all__ = ["main"]
