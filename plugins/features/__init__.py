"""Feature nodes F1-F5: audio in, frame-level features out (streaming == offline)."""
