"""ASGI entry for containers: `uvicorn classifier_fn.asgi:app` (configuration from the environment)."""

from classifier_fn.app import create_app
from gourmetgram.settings import Settings

app = create_app(Settings.from_env())
