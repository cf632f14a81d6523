"""Pure-numpy streaming DSP (no streamser imports): framing, filterbanks, features."""
