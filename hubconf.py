"""torch.hub entry points: ``torch.hub.load("<owner>/<repo>", "c8_mnist")``. Model code lives in ``zoo/``."""
dependencies = ["torch", "escnn", "safetensors", "huggingface_hub"]

from zoo.hub import c4_mnist, c8_mnist, d4_mnist, so2_mnist, trivial_mnist  # noqa: E402,F401
