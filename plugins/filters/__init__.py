"""Filter nodes: audio in, audio out."""
