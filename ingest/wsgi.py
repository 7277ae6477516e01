"""WSGI entry for containers: `waitress-serve --call ingest.wsgi:app` would build it; `app` is ready-made."""

from ingest import create_app

app = create_app()
