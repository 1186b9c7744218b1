"""Accuracy, and the rotated-MNIST protocol's metrics for one model (``zoo.data`` defines the protocol)."""
from __future__ import annotations

import torch
from tqdm import tqdm

from . import data


@torch.no_grad()
def predict(model, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Top-1 classes in eval mode, in batches; the model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    classes = torch.cat([model(images[i:i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])
    model.train(was_training)
    return classes


def accuracy(model, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy in eval mode; the model's train/eval mode is restored afterwards."""
    return (predict(model, images, batch_size) == labels).sum().item() / len(images)


def evaluate(model, images: torch.Tensor, labels: torch.Tensor, angles=data.PROFILE_ANGLES,
             profile_images: int = data.PROFILE_IMAGES, progress: bool = True) -> dict:
    """The protocol's metrics for one model on the (upright) test images; ``angles=()`` leaves out the profile."""
    rotated = data.rotate(images, data.rotated_test_angles(len(images)))
    profile = {}
    subset, subset_labels = images[:profile_images], labels[:profile_images]
    for angle in tqdm(angles, desc="angles", leave=False, disable=not progress):
        profile[str(angle)] = accuracy(model, data.rotate(subset, float(angle)), subset_labels)
    metrics = {"test_upright_accuracy": accuracy(model, images, labels),
               "test_rotated_accuracy": accuracy(model, rotated, labels)}
    if not profile:  # angles=(): the two test sets only
        return metrics
    return {**metrics, "profile_min_accuracy": min(profile.values()), "profile_max_accuracy": max(profile.values()),
            "profile": profile, "profile_images": len(subset)}
