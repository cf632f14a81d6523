"""Voice/sound activity detectors: gate or annotate audio."""
