"""Tandem's server: the FastAPI application, the Yjs room server, persistence, pub/sub and the CLI."""
