"""The model card (README.md) of a checkpoint folder, generated from its config.json.

The card's YAML header is huggingface_hub's ``ModelCardData``: licence, ``library_name``, tags, the training
``datasets`` (Hub dataset ids), ``pipeline_tag``, ``base_model`` for a fine-tuned checkpoint (its parent's Hub id)
and a ``model-index`` with the test results from config.json's metrics. Its body says how to load the weights and
prepare a picture, the input the weights expect (channels and size from config.json), the metrics with their
protocol and the training recipe. ``huggingface_hub`` is imported only when a card is written, so that
``zoo.checkpoint``, which imports this module, loads without it.
"""
from __future__ import annotations

import os
from pathlib import Path

from .files import CARD_NAME, read_config, write_text
from .records import DEFAULT_TAG, GITHUB_REPO, PROJECT, WEIGHT_TAGS, folder_name

# config.json metric -> its name in the card's model-index (percentages, as the README gives them)
CARD_RESULTS = {"test_rotated_accuracy": "rotated test accuracy", "test_upright_accuracy": "upright test accuracy"}
# A training set's name (torchvision's, as zoo finetune --dataset takes it) -> its Hugging Face Hub dataset id
HUB_DATASETS = {"MNIST": "ylecun/mnist", "FashionMNIST": "zalando-datasets/fashion_mnist",
                "CIFAR10": "uoft-cs/cifar10", "CIFAR100": "uoft-cs/cifar100"}
TAGS = ("image-classification", "equivariance", "escnn")


def parent_of(config: dict) -> dict:
    """The parent checkpoint of a fine-tuned one; runs before this zoo's records wrote it as text (its folder)."""
    parent = config.get("parent") or {}
    return {"folder": parent} if isinstance(parent, str) else parent


def is_fine_tuned(config: dict) -> bool:
    """Made by ``zoo finetune`` (from a parent checkpoint, or its ``scratch`` baseline), not one of the zoo's own."""
    return bool(config.get("parent") or config.get("mode"))


def training_dataset(config: dict) -> str:
    """What the weights were trained on: MNIST for the zoo's own, the ``zoo finetune`` data otherwise (a
    torchvision dataset name such as ``FashionMNIST``, or the name of an image folder)."""
    if not is_fine_tuned(config):
        return "MNIST"
    return str(config.get("training", {}).get("dataset") or config.get("weights_tag") or "fine-tuning data")


def card_data(config: dict):
    """The card's metadata as a ``huggingface_hub.ModelCardData``."""
    from huggingface_hub import EvalResult, ModelCardData

    dataset = training_dataset(config)
    hub_dataset = HUB_DATASETS.get(dataset)
    metrics = config.get("metrics", {})
    results = [EvalResult(task_type="image-classification", task_name="Image Classification",
                          dataset_type=hub_dataset or dataset, dataset_name=dataset, dataset_split="test",
                          metric_type="accuracy", metric_value=round(100 * metrics[key], 2), metric_name=name)
               for key, name in CARD_RESULTS.items() if isinstance(metrics.get(key), (int, float))]
    return ModelCardData(
        license="mit", library_name=PROJECT, pipeline_tag="image-classification",
        tags=[*TAGS, "rotated-mnist"] if dataset == "MNIST" else list(TAGS),
        datasets=[hub_dataset] if hub_dataset else None, base_model=parent_of(config).get("hub_id"),
        metrics=["accuracy"] if results else None, eval_results=results or None,
        model_name=folder_name(config["preset"], config.get("weights_tag") or DEFAULT_TAG) if results else None)


def model_card(config: dict) -> str:
    """The README.md of the checkpoint that ``config`` (its config.json) describes."""
    from huggingface_hub import ModelCard

    body = "\n".join([*_description(config), *_use(config), *_input(config), *_metrics(config),
                      *_training(config), *_files(config)])
    return str(ModelCard(f"---\n{card_data(config).to_yaml()}\n---\n{body}"))


def write_card(folder: str | os.PathLike) -> Path:
    """Rewrite ``folder``'s model card from its config.json; no other file is touched."""
    path = Path(folder) / CARD_NAME
    write_text(path, model_card(read_config(folder)))
    return path


def _description(config: dict) -> list[str]:
    arch = config["architecture"]
    tag = config.get("weights_tag")
    lines = [f"# {config['preset']}" + (f" ({tag} weights)" if tag else ""), "",
             f"A group-equivariant CNN for the symmetry group **{arch['group']}**, built with escnn, "
             f"{config['num_params']:,} parameters, {config.get('mflops_28x28', '?')} MFLOPs per 28x28 image"
             + (f"; its last {arch['subgroup_layers']} layer(s) use a subgroup of {arch['group']} (d4: c4, see "
                "`subgroup_layers` in zoo/model.py), and the prediction is invariant to that subgroup only."
                if arch.get("subgroup_layers") else ".")]
    if is_fine_tuned(config):
        lines += ["", _lineage(config)]
    return lines + [""]


def _lineage(config: dict) -> str:
    """Where a ``zoo finetune`` checkpoint came from: its data, its mode and its parent's exact weights."""
    dataset, mode = training_dataset(config), config.get("mode")
    if mode == "scratch":
        return f"Trained from scratch on {dataset} (`zoo finetune --mode scratch`, the baseline of fine-tuning)."
    parent = parent_of(config)
    pinned = ", ".join(f"{what} `{parent[key]}`" for key, what in
                       (("revision", "revision"), ("weights_sha256", "model.safetensors sha256")) if parent.get(key))
    return (f"Fine-tuned on {dataset} from `{parent.get('hub_id') or parent.get('folder')}`"
            + (f" ({pinned})" if pinned else "")
            + {"probe": ": a linear probe, the parent's backbone frozen and a new head trained (`--mode probe`).",
               "finetune": ": every weight trained from the parent's (`--mode finetune`)."}.get(mode, "."))


def _use(config: dict) -> list[str]:
    preset, tag = config["preset"], config.get("weights_tag") or DEFAULT_TAG
    channels, (height, width) = config["input"]["channels"], config["input"]["size"]
    weights = "" if tag == DEFAULT_TAG else f", weights=\"{tag}\""
    picture = "digit.png" if training_dataset(config) == "MNIST" else "picture.png"
    published = tag in WEIGHT_TAGS  # a tag of the zoo's own loads by name; a zoo finetune folder by its path
    load = (f"model = zoo.create_model(\"{preset}\", pretrained=True{weights})" if published
            else "model = zoo.from_pretrained(\"path/to/this/folder\")  # or its Hub repository id")
    lines = ["## Use", "", "```python", f"import zoo  # pip install {PROJECT}", "from PIL import Image", "",
             load,
             f"transform = zoo.create_transform(model)  # a file path, PIL image or array -> the "
             f"({channels}, {height}, {width}) float tensor these weights expect",
             f"x = transform(Image.open(\"{picture}\")).unsqueeze(0)  # (1, {channels}, {height}, {width})",
             f"probabilities = model(x).softmax(1)  # (1, {len(config['class_names'])})", "```", ""]
    if published:
        lines += [f"The same model loads with `torch.hub.load(\"{GITHUB_REPO}\", \"{preset}\"{weights})`, or, from "
                  "this folder or its Hub repository, with `zoo.from_pretrained(path_or_repo_id)`; "
                  f"`export=True` in any of them gives a plain-PyTorch model that does not need escnn.", ""]
    return lines


def _input(config: dict) -> list[str]:
    spec = config["input"]
    height, width = spec["size"]
    return ["## Input", "",
            f"A float tensor (B, {spec['channels']}, {height}, {width}): {spec['channels']} channel(s), "
            f"{height}x{width} pixels, {spec['normalization']}. Classes: {', '.join(config['class_names'])}."
            + ("" if is_fine_tuned(config) else " Expects digits centred by their centre of mass, as MNIST centres "
               "them: the rotated-MNIST weights lose 2.6 to 3.8 points of accuracy to a one-pixel shift "
               "(docs/training.md of the equivariant-zoo repository, \"Centred digits\")."), ""]


def _metrics(config: dict) -> list[str]:
    metrics = config.get("metrics", {})
    if not metrics:
        return []
    return ["## Metrics", "", f"Protocol: {config.get('protocol', 'see zoo/data.py')}", "",
            "| metric | value |", "| --- | --- |",
            *(f"| {k} | {v} |" for k, v in metrics.items() if not isinstance(v, (dict, list))), ""]


def _training(config: dict) -> list[str]:
    lines = []
    if config.get("training"):
        lines += ["## Training", "", "| setting | value |", "| --- | --- |",
                  *(f"| {k} | {_setting(k, v)} |" for k, v in config["training"].items()), ""]
    return lines


def _files(config: dict) -> list[str]:
    exported = config.get("export", {}).get("sha256")
    return ["## Files", "", f"`model.safetensors` sha256 `{config['weights_sha256']}`"
            + (f"; `exported.safetensors` (the plain-PyTorch model) sha256 `{exported}`" if exported else "")
            + "; `config.json` holds the architecture, input spec, metrics, training recipe and library versions.", ""]


def _setting(key: str, value) -> str:
    """A training setting for the card; a validation curve ([step, accuracy] pairs) as percentages per epoch."""
    if key.startswith("val_history") and isinstance(value, list):
        return ", ".join(f"{100 * acc:.2f}%" for _, acc in value)
    return str(value)
