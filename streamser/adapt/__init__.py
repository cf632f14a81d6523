"""``streamser adapt``: teach a cry robot a home's own sounds.

The graph's detector head (the ``infer`` node whose scores reach the smoother through
merge nodes) keeps its job; a per-home verifier (``verify.home``, :mod:`.verifier`)
between it and the rest of the graph reads the backbone's row and the head's scores and
lowers the cry score where the row looks like this home's own sounds. Modules:
:mod:`.detector` (finding head and backbone, writing the adapted graph), :mod:`.rows`
(the graph's own front-end and head over clips), :mod:`.cryset` (the bundled cries and
generic sounds the verifier is fitted against), :mod:`.fit` (fit, guard, report),
:mod:`.marks` (false alarms marked on a recording), :mod:`.record` (the microphone).
"""
