"""Errors raised by the ML package. All derive from the project's `AtraError`."""

from __future__ import annotations

from core.errors import AtraError


class ModelArtifactError(AtraError):
    """A saved model is missing, unreadable, of an unknown format or fails its checks."""


class FeatureMismatchError(ModelArtifactError):
    """A saved model was trained on other features than the code computes now."""

    def __init__(self, kind: str, expected: tuple[str, ...], found: tuple[str, ...]) -> None:
        code_only = [name for name in expected if name not in found]
        model_only = [name for name in found if name not in expected]
        detail = (
            f"the model lacks {code_only}, the code lacks {model_only}"
            if code_only or model_only
            else "same names in another order"
        )
        super().__init__(f"{kind} model features do not match the code: {detail}")
        self.kind = kind
        self.expected = expected
        self.found = found


class ModelsUnavailable(AtraError):
    """No valid model set is active: the ML filters cannot run."""
