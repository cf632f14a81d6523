"""Source nodes: where frames come from."""
