"""The trainable architectures, named and described without importing torch.

Each model class of ``streamser/models/`` declares ``arch = "name"`` and describes itself
in its docstring (else its module's); they are read from the source with :mod:`ast`, in
the order ``streamser.models.ARCHITECTURES`` lists them, so that ``streamser models
--archs`` answers at once, and on a robot without torch.
"""
from __future__ import annotations

import ast
from pathlib import Path

MODELS = Path(__file__).resolve().parent / "models"
#: The utterance-statistics baselines, trained by ``streamser train`` without torch.
BASELINES = {"svm": "SVM on utterance statistics (mean, std, min, max): a baseline",
             "majority": "the majority class: a baseline"}


def architectures() -> dict[str, str]:
    """Architecture name -> its one-paragraph description."""
    classes: dict[str, tuple[str, str]] = {}
    for path in sorted(MODELS.glob("*.py")):
        module = ast.parse(path.read_text())
        module_doc = ast.get_docstring(module) or ""
        for node in module.body:
            if isinstance(node, ast.ClassDef):
                arch = _arch(node)
                if arch:
                    classes[node.name] = (arch, ast.get_docstring(node) or module_doc)
    out = {}
    for name in _listed(ast.parse((MODELS / "__init__.py").read_text())):
        arch, doc = classes[name]
        out[arch] = " ".join(doc.strip().split("\n\n")[0].split())
    return out


def _arch(cls: ast.ClassDef) -> str | None:
    for stmt in cls.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(stmt.value, ast.Constant):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if any(isinstance(t, ast.Name) and t.id == "arch" for t in targets):
                return str(stmt.value.value) or None
    return None


def _listed(init: ast.Module) -> list[str]:
    """The class names in ``ARCHITECTURES = {cls.arch: cls for cls in (A, B, ...)}``."""
    for node in ast.walk(init):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "ARCHITECTURES" for t in targets):
                return [e.id for t in ast.walk(node.value) if isinstance(t, ast.Tuple)
                        for e in t.elts if isinstance(e, ast.Name)]
    raise RuntimeError(f"no ARCHITECTURES in {MODELS / '__init__.py'}")
