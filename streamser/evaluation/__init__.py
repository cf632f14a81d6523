"""Evaluation tools: labelled test streams (``teststreams``), event scoring
(``eventscore``), timeline plots (``plotevents``) and graph benchmarks (``bench``); their
click commands live in ``streamser.cli.evaluation``."""
