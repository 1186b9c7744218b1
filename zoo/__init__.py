"""A zoo of pretrained group-equivariant CNNs (escnn) for rotated MNIST."""
from .registry import create_model, list_models

__all__ = ["create_model", "list_models", "EquivariantCNN"]


def __getattr__(name):  # import escnn only when the escnn model is asked for
    if name == "EquivariantCNN":
        from .model import EquivariantCNN

        return EquivariantCNN
    raise AttributeError(name)
