"""Serving: the FastAPI app (app.py) and its page (web/)."""
