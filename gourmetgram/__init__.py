"""Shared pieces of the GourmetGram pipeline: settings, names, the S3 store, the event log and the CLI."""
