"""torch.hub entry points: ``torch.hub.load("equivariant-zoo/equivariant-zoo", "c8_mnist")``. Model code lives in
``zoo/``; the weights come from the repository's ``weights/`` (or the Hugging Face Hub, see ``zoo.download``)."""
# escnn is not listed: export=True never imports it; the escnn model says how to install it if it is missing
dependencies = ["torch", "safetensors"]

from zoo.hub import c4_mnist, c8_mnist, c8_wide_mnist, d4_mnist, so2_mnist, trivial_mnist  # noqa: E402,F401
