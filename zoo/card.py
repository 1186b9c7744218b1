"""The model card (README.md) of a checkpoint folder, generated from its config.json.

Its YAML header is the Hub's model-card metadata: ``pipeline_tag``, ``library_name``, ``model-index`` with the
test results from config.json's metrics, and ``base_model`` for a fine-tuned checkpoint (its parent's Hub id).
"""
from __future__ import annotations

import json

from .records import GITHUB_REPO, PROJECT

# config.json metric -> its name in the card's model-index (percentages, as the README gives them)
CARD_RESULTS = {"test_rotated_accuracy": "rotated test accuracy", "test_upright_accuracy": "upright test accuracy"}


def parent_of(config: dict) -> dict:
    """The parent checkpoint of a fine-tuned one; runs before this zoo's records wrote it as text (its folder)."""
    parent = config.get("parent") or {}
    return {"folder": parent} if isinstance(parent, str) else parent


def card_metadata(config: dict) -> list[str]:
    """The YAML header's lines (between the ``---`` fences). Strings are JSON-quoted, which YAML reads as is."""
    parent = parent_of(config)
    training = config.get("training", {})
    dataset = ("Rotated MNIST (MNIST test set, each image rotated by a uniform random angle)" if not parent
               else str(training.get("dataset", config.get("weights_tag", "fine-tuning data"))))
    lines = [f"library_name: {PROJECT}", "license: mit", "pipeline_tag: image-classification",
             "tags:", *(f"- {t}" for t in ("image-classification", "equivariance", "escnn", "rotated-mnist")),
             "datasets:", "- mnist"]
    if parent.get("hub_id"):
        lines.append(f"base_model: {parent['hub_id']}")
    results = [(name, 100 * config["metrics"][key]) for key, name in CARD_RESULTS.items()
               if isinstance(config.get("metrics", {}).get(key), (int, float))]
    if results:
        lines += ["model-index:", f"- name: {config['preset']}" + (f"-{config['weights_tag']}" if
                                                                   config.get("weights_tag", "rotated") != "rotated"
                                                                   else ""),
                  "  results:", "  - task:", "      type: image-classification", "      name: Image Classification",
                  "    dataset:", f"      name: {json.dumps(dataset)}", "      type: mnist" if not parent else
                  f"      type: {json.dumps(dataset.lower())}", "      split: test", "    metrics:"]
        for name, value in results:
            lines += ["    - type: accuracy", f"      value: {value:.2f}", f"      name: {name}"]
    return lines


def model_card(config: dict) -> str:
    arch = config["architecture"]
    metrics = config.get("metrics", {})
    training = config.get("training", {})
    lines = [
        "---",
        *card_metadata(config),
        "---",
        f"# {config['preset']}" + (f" ({config['weights_tag']} weights)" if config.get("weights_tag") else ""),
        "",
        f"A group-equivariant CNN for the symmetry group **{arch['group']}**, built with escnn, "
        f"{config['num_params']:,} parameters, {config.get('mflops_28x28', '?')} MFLOPs per 28x28 image"
        + (f"; its last {arch['subgroup_layers']} layer(s) use a subgroup of {arch['group']} (d4: c4, see "
           "`subgroup_layers` in zoo/model.py), and the prediction is invariant to that subgroup only."
           if arch.get("subgroup_layers") else "."),
        "",
        "## Use",
        "```python",
        "import torch",
        f"model = torch.hub.load(\"{GITHUB_REPO}\", \"{config['preset']}\""
        + (f", weights=\"{config['weights_tag']}\"" if config.get("weights_tag") not in (None, "rotated") else "")
        + ")",
        "logits = model(x)  # x: float (B, 1, H, W), pixel values in [0, 1], background 0",
        "```",
        f"or `pip install {PROJECT}`, then `zoo.create_model(\"{config['preset']}\", pretrained=True"
        + (f", weights=\"{config['weights_tag']}\"" if config.get("weights_tag") not in (None, "rotated") else "")
        + ")`, or, from this folder or its Hub repository, `zoo.from_pretrained(path_or_repo_id)`.",
        "",
        "## Input",
        f"{config['input']['channels']} channel(s), {config['input']['normalization']}. "
        f"Classes: {', '.join(config['class_names'])}."
        + ("" if config.get("parent") else " Expects digits centred by their centre of mass, as MNIST centres "
           "them: the rotated-MNIST weights lose 2.6 to 3.8 points of accuracy to a one-pixel shift ("
           "docs/training.md of the equivariant-zoo repository, \"Centred digits\")."),
        "",
    ]
    if metrics:
        lines += ["## Metrics", "", f"Protocol: {config.get('protocol', 'see zoo/data.py')}", "",
                  "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in metrics.items() if not isinstance(v, (dict, list))]
        lines.append("")
    if training:
        lines += ["## Training", "", "| setting | value |", "| --- | --- |"]
        lines += [f"| {k} | {_setting(k, v)} |" for k, v in training.items()]
        lines.append("")
    if config.get("parent"):
        parent = parent_of(config)
        lines += [f"Fine-tuned from `{parent.get('hub_id') or parent.get('folder')}` (revision "
                  f"`{parent.get('revision')}`, model.safetensors sha256 `{parent.get('weights_sha256')}`).", ""]
    lines += ["## Files", f"`model.safetensors` sha256 `{config['weights_sha256']}`; `config.json` holds the "
              "architecture, input spec, metrics, training recipe and library versions.", ""]
    return "\n".join(lines)


def _setting(key: str, value) -> str:
    """A training setting for the card; a validation curve ([step, accuracy] pairs) as percentages per epoch."""
    if key.startswith("val_history") and isinstance(value, list):
        return ", ".join(f"{100 * acc:.2f}%" for _, acc in value)
    return str(value)
