"""makegood: proactive service recovery."""

__version__ = "0.1.0"
