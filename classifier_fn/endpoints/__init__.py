"""The endpoints work comes in by: MinIO's webhook, the nudge, /predict, health and metrics, the JetStream consumer
(their bodies are read by `classifier_fn.body`, shared with the event parsing)."""
