"""The model card (README.md) of a checkpoint folder, generated from its config.json."""
from __future__ import annotations


def model_card(config: dict) -> str:
    arch = config["architecture"]
    metrics = config.get("metrics", {})
    training = config.get("training", {})
    lines = [
        "---",
        "library_name: equivariant-zoo",
        "license: mit",
        "tags: [image-classification, equivariance, escnn, rotated-mnist]",
        "datasets: [mnist]",
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
        f"model = torch.hub.load(\"<owner>/<repo>\", \"{config['preset']}\""
        + (f", weights=\"{config['weights_tag']}\"" if config.get("weights_tag") not in (None, "rotated") else "")
        + ")",
        "logits = model(x)  # x: float (B, 1, H, W), pixel values in [0, 1], background 0",
        "```",
        "or, from this folder or its Hub repository: `zoo.from_pretrained(path_or_repo_id)`.",
        "",
        "## Input",
        f"{config['input']['channels']} channel(s), {config['input']['normalization']}. "
        f"Classes: {', '.join(config['class_names'])}."
        + ("" if config.get("parent") else " Expects digits centred by their centre of mass, as MNIST centres "
           "them: the rotated-MNIST weights lose 2.6 to 3.8 points of accuracy to a one-pixel shift (README, "
           "\"Centred digits\")."),
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
        lines += [f"Fine-tuned from `{config['parent']}`.", ""]
    lines += ["## Files", f"`model.safetensors` sha256 `{config['weights_sha256']}`; `config.json` holds the "
              "architecture, input spec, metrics, training recipe and library versions.", ""]
    return "\n".join(lines)


def _setting(key: str, value) -> str:
    """A training setting for the card; a validation curve ([step, accuracy] pairs) as percentages per epoch."""
    if key.startswith("val_history") and isinstance(value, list):
        return ", ".join(f"{100 * acc:.2f}%" for _, acc in value)
    return str(value)
