"""`vocalens serve`: the web page and REST API for detection (docs/serve.md)."""
