"""A zoo of pretrained group-equivariant CNNs (escnn) for rotated MNIST."""
from .registry import PretrainedCfg, create_model, list_models
from .transforms import create_transform

__all__ = ["create_model", "list_models", "create_transform", "PretrainedCfg", "Architecture", "EquivariantCNN",
           "from_pretrained", "save_pretrained",
           "push_to_hub"]

_LAZY = {"Architecture": "architecture", "EquivariantCNN": "model", "from_pretrained": "hf_hub",
         "save_pretrained": "hf_hub", "push_to_hub": "hf_hub"}


def __getattr__(name):  # escnn and huggingface_hub are imported only when these are asked for
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
