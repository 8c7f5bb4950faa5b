"""ferkit: facial expression recognition (train, evaluate, recognise 7 expressions)."""

__version__ = "0.1.0"
