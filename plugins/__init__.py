"""Built-in nodes, installed as ``streamser.plugins`` and registered as entry points."""
