"""streamser: real-time streaming audio graphs for robots and embedded boards."""
__version__ = "0.1.0"
