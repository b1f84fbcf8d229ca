"""The OpenAI-compatible HTTP server (`python -m modelserver serve`)."""
