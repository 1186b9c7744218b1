"""Interactive demo: draw or pick a digit, turn it, and watch every preset answer (a Gradio app).

    zoo app                      # http://127.0.0.1:7860
    zoo app --port 8000 --share  # any Gradio launch option: see --help
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=7861 zoo app   # as Hugging Face Spaces runs it

Served by the exported models (plain PyTorch, no escnn): from the checkout's weights, or, installed from a wheel,
downloaded once into the Hugging Face cache (offline afterwards). Its API: ``/classify`` (an embedded example
at an angle) and ``/classify_image`` (your picture, base64, framed as the page frames a drawing). For a Hugging
Face Space, ``app.py`` at the Space's root can be ``from zoo.app import build_app; build_app().launch()``.
The full turn (24 angles) of a new digit is computed in one batched call per preset; moving the angle runs
each preset on one image.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .data import rotate
from .probes import embedded_digits
from .registry import DEFAULT_TAG, WEIGHT_TAGS, create_model, published_models

TURN = torch.arange(0, 360, 15, dtype=torch.float64)  # the 24 angles of the curve
EXAMPLES = [str(d) for d in range(10)] + ["6 or 9? (the 6, turned upside down)"]
SIX_OR_NINE = EXAMPLES[-1]
SHORT = {"trivial_mnist": "plain CNN", "c4_mnist": "C4", "c8_mnist": "C8", "c8_wide_mnist": "C8, 1.5x wide",
         "d4_mnist": "D4 (then C4)", "so2_mnist": "SO(2)"}


class InputError(ValueError):
    """An image a person gave that cannot be read as a digit; the message is shown on the page."""


def models(weights: str = DEFAULT_TAG) -> dict[str, torch.nn.Module]:
    """The exported model of every preset for a weights tag, loaded (and self-checked) once."""
    if weights not in WEIGHT_TAGS:
        raise InputError(f"unknown weights {weights!r}; choose one of {', '.join(WEIGHT_TAGS)}")
    return _models(weights)


@lru_cache(maxsize=None)
def _models(weights: str) -> dict[str, torch.nn.Module]:
    return {name: create_model(name, pretrained=True, weights=weights, export=True)
            for name in published_models(weights)}


def example_digit(choice: str) -> tuple[torch.Tensor, int]:
    """An embedded MNIST test digit (1, 1, 28, 28) and its label, by the name shown in the example picker."""
    images, labels = embedded_digits()
    if choice not in EXAMPLES:
        raise InputError(f"unknown example {choice!r}; choose one of {', '.join(EXAMPLES)}")
    index = 6 if choice == SIX_OR_NINE else int(choice)
    return images[index:index + 1], int(labels[index])


def to_mnist(image) -> torch.Tensor:
    """Any picture of one digit -> (1, 1, 28, 28) in [0, 1], white digit on black, framed as MNIST frames digits.

    Accepts a numpy array or PIL image of any size, grey, RGB or RGBA (transparent pixels count as background),
    8-bit or float. A dark digit on a light background is inverted. As in MNIST, the digit's bounding box is
    scaled to fit 20x20 pixels and its centre of mass is put at the centre of the 28x28 frame.
    """
    if image is None:
        raise InputError("No image: draw a digit, upload a picture, or pick an example.")
    array = np.asarray(image)
    if array.dtype == object or array.ndim not in (2, 3) or min(array.shape[:2]) < 1:
        raise InputError(f"Cannot read this image (array of shape {array.shape}); upload a PNG or JPEG of one digit.")
    pixels = torch.as_tensor(array.astype(np.float32))
    if array.dtype == np.uint8 or pixels.max() > 1:
        pixels = pixels / 255
    if pixels.ndim == 3:
        channels = pixels.shape[2]
        alpha = pixels[..., 3] if channels == 4 else torch.ones(pixels.shape[:2])
        grey = pixels[..., :3].mean(-1) if channels >= 3 else pixels[..., 0]
        if channels == 4 and alpha.min() < 0.5:  # a drawing on a transparent canvas: the strokes are the ink
            ink = alpha * (grey - 1).abs() if grey[alpha > 0.5].mean() < 0.5 else alpha * grey
        else:
            ink = grey
    else:
        ink = pixels
    if not torch.isfinite(ink).all():
        raise InputError("The image contains invalid values (NaN or inf).")
    border = torch.cat([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
    if border.mean() > 0.5:  # dark digit on a light background: MNIST digits are light on dark
        ink = 1 - ink
    ink = (ink - ink.min()).clamp_min(0)
    if ink.max() < 0.1 or (ink > 0.5 * ink.max()).sum() < 4:
        raise InputError("The sketch is empty: draw a digit (one stroke is enough) or pick an example.")
    ink = ink / ink.max()
    rows, cols = torch.nonzero(ink > 0.1, as_tuple=True)
    box = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = 20 / max(box.shape)
    size = (max(1, round(box.shape[0] * scale)), max(1, round(box.shape[1] * scale)))
    if scale < 1:  # shrinking: average the pixels each new pixel covers (a bilinear kernel would blur further)
        box = torch.nn.functional.interpolate(box[None, None], size=size, mode="area")[0, 0]
    else:
        box = torch.nn.functional.interpolate(box[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    box = box.clamp(0, 1)
    frame = torch.zeros(28, 28)
    mass = box.sum().clamp_min(1e-6)
    cy = (box.sum(1) * torch.arange(size[0])).sum() / mass
    cx = (box.sum(0) * torch.arange(size[1])).sum() / mass
    top = int(round(14 - cy.item())), int(round(14 - cx.item()))  # MNIST: centre of mass at pixel (14, 14)
    top = min(max(top[0], 0), 28 - size[0]), min(max(top[1], 0), 28 - size[1])
    frame[top[0]:top[0] + size[0], top[1]:top[1] + size[1]] = box
    return frame[None, None]


def sketch_image(value):
    """The picture in a Gradio sketchpad value (a dict with a composite, or an array/PIL image)."""
    if isinstance(value, dict):
        return value.get("composite") if value.get("composite") is not None else value.get("background")
    return value


@dataclass
class Turn:
    """Every preset's class probabilities for one digit at each angle of ``TURN``: (24, 10) per preset."""

    digit: torch.Tensor
    probabilities: dict[str, torch.Tensor]


@torch.no_grad()
def full_turn(digit: torch.Tensor, weights: str = DEFAULT_TAG) -> Turn:
    """One batched call per preset: the digit at 24 angles."""
    batch = rotate(digit.expand(len(TURN), -1, -1, -1), TURN)
    return Turn(digit, {name: m(batch).softmax(1) for name, m in models(weights).items()})


@torch.no_grad()
def at_angle(digit: torch.Tensor, angle: float, weights: str = DEFAULT_TAG) -> dict[str, torch.Tensor]:
    """Every preset's class probabilities (10,) for the digit turned by ``angle`` degrees (counter-clockwise)."""
    image = rotate(digit, float(angle))
    return {name: m(image).softmax(1)[0] for name, m in models(weights).items()}


def classify(image, example: str | None, angle: float, weights: str = DEFAULT_TAG) -> dict:
    """The app's API: predictions of every preset for an image (or an example) at an angle, as plain data."""
    digit, label = example_digit(example) if example else (to_mnist(sketch_image(image)), None)
    probabilities = at_angle(digit, angle, weights)
    return {"angle": float(angle), "weights": weights, "label": label,
            "predictions": {name: {"class": int(p.argmax()), "probability": round(float(p.max()), 4)}
                            for name, p in probabilities.items()}}


def predictions_html(probabilities: dict[str, torch.Tensor], angle: float, target: int | None) -> str:
    """The table on the page; data-* attributes carry the values for tests and scripts."""
    rows = []
    for name, p in probabilities.items():
        cls, prob = int(p.argmax()), float(p.max())
        ok = "" if target is None else (" ✓" if cls == target else " ✗")
        rows.append(f'<tr data-preset="{name}" data-class="{cls}" data-probability="{prob:.4f}">'
                    f"<td>{SHORT.get(name, name)}</td><td><b>{cls}</b>{ok}</td><td>{100 * prob:.1f}%</td></tr>")
    return (f'<table id="predictions" data-angle="{angle:g}"><thead><tr><th>preset</th><th>predicts</th>'
            f"<th>probability</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def turn_figure(turn: Turn, target: int):
    """Each preset's probability of class ``target`` against the angle: flat for an invariant network."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, p in turn.probabilities.items():
        ax.plot(TURN.tolist() + [360], p[:, target].tolist() + [p[0, target].item()], marker="o", markersize=3,
                label=SHORT.get(name, name))
    ax.set(xlim=(0, 360), ylim=(-0.03, 1.03), xlabel="angle (degrees, counter-clockwise)",
           ylabel=f"probability of class {target}", xticks=range(0, 361, 45))
    ax.legend(fontsize=7, loc="lower left", ncol=3)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig


def preview(digit: torch.Tensor, angle: float) -> np.ndarray:
    """The turned digit as the models see it, enlarged to 168x168 for the page (uint8, white on black)."""
    image = rotate(digit, float(angle))[0, 0]
    return (image.clamp(0, 1) * 255).to(torch.uint8).repeat_interleave(6, 0).repeat_interleave(6, 1).numpy()


def build_app():
    """The Gradio Blocks app (not launched)."""
    import gradio as gr

    with gr.Blocks(title="equivariant-zoo: turn a digit") as app:
        gr.Markdown("# Turn a digit, watch every network answer\nA network invariant to a group of rotations "
                    "answers the same for every copy of the digit turned by an angle of that group (C4: 90°, C8: "
                    "45°, SO(2): any angle). The plain CNN saw digits at random angles in training and still "
                    "changes its mind; with the *upright* weights it collapses. Draw a digit or pick one, then "
                    "move the angle or play a full turn.")
        state = gr.State(None)  # {"turn": Turn, "label": int | None}
        with gr.Row():
            with gr.Column(scale=1):
                example = gr.Radio(EXAMPLES, label="MNIST test digit", value="3", elem_id="example")
                sketch = gr.Sketchpad(label="…or draw a digit (or upload a picture)", type="numpy",
                                      image_mode="RGBA", canvas_size=(280, 280), sources=("upload", "clipboard"),
                                      elem_id="sketch")
                use_sketch = gr.Button("Use my drawing", elem_id="use-sketch")
                weights = gr.Radio(list(WEIGHT_TAGS), value=DEFAULT_TAG, label="weights", elem_id="weights",
                                   info="rotated: trained on rotated digits; upright: trained on upright digits only")
                target = gr.Dropdown(["true class"] + [str(d) for d in range(10)], value="true class",
                                     label="class to plot", elem_id="target")
            with gr.Column(scale=2):
                message = gr.Markdown("", elem_id="message")
                with gr.Row():
                    angle = gr.Slider(0, 360, value=0, step=5, label="angle (degrees)", elem_id="angle")
                    play = gr.Button("▶ play a full turn", elem_id="play", scale=0)
                with gr.Row():
                    picture = gr.Image(label="what the networks see", height=180, width=180, elem_id="picture",
                                       interactive=False, buttons=[])
                    table = gr.HTML(elem_id="table")
                plot = gr.Plot(label="probability against angle", elem_id="plot")

        outputs = [state, message, picture, table, plot]
        example.change(_pick, [example, weights, angle, target], outputs, api_name=False)
        use_sketch.click(_draw, [sketch, weights, angle, target], outputs, api_name=False)
        weights.change(_reload, [state, weights, angle, target], outputs, api_name=False)
        angle.change(_show, [state, angle, weights], [picture, table], api_name=False, show_progress="hidden",
                     queue=False, trigger_mode="always_last")
        target.change(_curve, [state, target], plot, api_name=False)
        play.click(_spin, [state, weights], [angle, picture, table], api_name=False)
        app.load(_pick, [example, weights, angle, target], outputs, api_name=False)
        gr.api(_api_classify, api_name="classify")
        gr.api(_api_classify_image, api_name="classify_image")
    return app


# The page's event handlers: the state is {"turn": Turn, "label": int | None}, or None before the first digit.

def _unchanged():
    import gradio as gr

    return gr.update()


def _show(current, angle_value, weights_value):
    """A new angle: the picture and the table (the curve does not depend on the angle)."""
    if current is None:
        return _unchanged(), _unchanged()
    probabilities = at_angle(current["turn"].digit, angle_value, weights_value)
    return preview(current["turn"].digit, angle_value), predictions_html(probabilities, angle_value,
                                                                         current["label"])


def _curve(current, target_value):
    if current is None:
        return _unchanged()
    turn, label = current["turn"], current["label"]
    if target_value != "true class":
        chosen = int(target_value)
    elif label is not None:
        chosen = label
    else:  # a drawing: the class the presets give the most probability over the turn
        chosen = int(sum(p.sum(0) for p in turn.probabilities.values()).argmax())
    return turn_figure(turn, chosen)


def _load(digit, label, weights_value, angle_value, target_value, note=""):
    current = {"turn": full_turn(digit, weights_value), "label": label}
    return (current, note) + _show(current, angle_value, weights_value) + (_curve(current, target_value),)


def _pick(choice, weights_value, angle_value, target_value):
    digit, label = example_digit(choice)
    note = ("Turned by 180°, this 6 looks like a 9. C4, C8, D4 and SO(2) are invariant to that turn, so "
            "they cannot tell the two apart and answer 6 at every angle; the plain CNN trained on rotated "
            "digits learned to do the same. Choose the *upright* weights: the plain CNN then reads a 9."
            if choice == SIX_OR_NINE else "")
    return _load(digit, label, weights_value, angle_value, target_value, note)


def _draw(value, weights_value, angle_value, target_value):
    try:
        digit = to_mnist(sketch_image(value))
    except InputError as e:
        return (_unchanged(), f"⚠️ {e}", _unchanged(), _unchanged(), _unchanged())
    return _load(digit, None, weights_value, angle_value, target_value, "Your drawing, framed as MNIST digits are.")


def _reload(current, weights_value, angle_value, target_value):
    if current is None:
        return (current, "") + (_unchanged(),) * 3
    return _load(current["turn"].digit, current["label"], weights_value, angle_value, target_value)


def _spin(current, weights_value):
    for a in range(0, 361, 15):
        yield (a,) + _show(current, a, weights_value)


def _api_classify(example: str, angle: float, weights: str = DEFAULT_TAG) -> dict:
    """Predictions of every preset for an embedded example digit ("0".."9") turned by ``angle`` degrees."""
    return _api(lambda: classify(None, example, angle, weights))


def _api_classify_image(image: str, angle: float = 0.0, weights: str = DEFAULT_TAG) -> dict:
    """Predictions of every preset for your picture of one digit turned by ``angle`` degrees, framed as the page
    frames a drawing (``to_mnist``). ``image``: a PNG or JPEG, base64-encoded (a ``data:image/png;base64,...`` URL
    or the bare base64 text)."""
    return _api(lambda: classify(decode_image(image), None, angle, weights))


def _api(call) -> dict:
    import gradio as gr

    try:
        return call()
    except InputError as e:
        raise gr.Error(str(e)) from e  # shown to the caller (other exceptions stay server-side)


def decode_image(text: str):
    """A base64-encoded picture (optionally a data URL) -> PIL image; an ``InputError`` if it is not one."""
    import base64
    import binascii
    import io

    from PIL import Image, UnidentifiedImageError

    if not isinstance(text, str) or not text:
        raise InputError("No image: send a PNG or JPEG of one digit, base64-encoded (data:image/png;base64,...).")
    payload = text.split(",", 1)[1] if text.startswith("data:") and "," in text else text
    try:
        image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
        image.load()
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError) as e:
        raise InputError(f"Cannot read the image ({e}); send a PNG or JPEG of one digit, base64-encoded.") from e
    return image
