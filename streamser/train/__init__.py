"""Training and evaluation (the ``train`` extra): recipes, the feature pipeline shared
with the streaming nodes, group-independent splits, the training loop, scores and
checkpoints. Only the modules that need torch import it, and only when used."""
