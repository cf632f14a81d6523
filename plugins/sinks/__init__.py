"""Sink nodes: where frames go."""
