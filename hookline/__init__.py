"""hookline: reliable, signed, replayable events from the callbacks of AI-image job APIs."""

__version__ = "0.1.0"
