"""Evaluation tools: labelled test streams (``teststreams``), event scoring
(``eventscore``), timeline plots (``plotevents``) and their commands (``commands``:
mkstream, score-events, bench, plot-events)."""
