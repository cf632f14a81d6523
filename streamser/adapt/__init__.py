"""``streamser adapt``: teach a cry robot a home's own sounds.

The graph's detector head (the ``infer`` node whose scores reach the smoother through
merge nodes) keeps its job; a per-home gate (``verify.home``) between it and the rest of
the graph lowers the cry score where this home's own sounds are heard: by default a
timbre gate on the patches the backbone reads (:mod:`.timbre`), or a verifier on the
backbone's rows (:mod:`.verifier`); or the head's last layer is re-fitted
(:mod:`.headfit`). Modules: :mod:`.detector` (finding head and backbone, writing the
adapted graph), :mod:`.rows` (the graph's own front-end and head over clips),
:mod:`.cryset` (the bundled cries and generic sounds it is fitted against), :mod:`.fit`
(fit, guard, report), :mod:`.marks` (false alarms marked on a recording), :mod:`.record`
(the microphone).
"""
