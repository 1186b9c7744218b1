"""The exponential moving average of the weights that a run publishes."""
from __future__ import annotations

import contextlib

import torch

from ..checkpoint import learned_state, load_learned_state


class WeightAverage:
    """Exponential moving average of a model's learned state (parameters and batch-norm statistics), in float32.

    The decay is warmed up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so early weights, far from
    the final ones, fade out quickly. ``swapped_in`` evaluates the model with the averaged weights.
    """

    def __init__(self, model, decay: float):
        self.decay, self.updates = decay, 0
        self.state = {k: v.float() for k, v in learned_state(model).items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        current = model.state_dict()
        for name, average in self.state.items():
            average.lerp_(current[name].float(), 1 - decay)

    def averaged_state(self, model) -> dict[str, torch.Tensor]:
        """The model's learned state with the averages in place of the floating-point tensors."""
        state = learned_state(model)
        return {k: self.state[k].to(v.dtype) if k in self.state else v for k, v in state.items()}

    @contextlib.contextmanager
    def swapped_in(self, model):
        raw = learned_state(model)
        load_learned_state(model, self.averaged_state(model), "the weight average")
        try:
            yield model
        finally:
            load_learned_state(model, raw, "the trained weights")
