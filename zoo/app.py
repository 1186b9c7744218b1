"""Interactive demo: draw or pick a digit, turn it, and watch every preset answer (a Gradio app).

    zoo app                      # http://127.0.0.1:7860
    zoo app --port 8000 --share  # any Gradio launch option: see --help
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=7861 zoo app   # as Hugging Face Spaces runs it

Served by the exported models (plain PyTorch, no escnn): from the checkout's weights, or, installed from a wheel,
downloaded once into the Hugging Face cache (offline afterwards). Its API: ``/classify`` (an embedded example
at an angle) and ``/classify_image`` (your picture, base64, framed as the page frames a drawing). For a Hugging
Face Space, ``app.py`` at the Space's root can be ``from zoo.app import launch; launch()``.
The full turn (24 angles) of a new digit is computed in one batched call per preset; moving the angle runs
each preset on one image.

A public endpoint bounds what it accepts before decoding it, and answers every bad request with one message
(``gr.Error``) while it keeps serving:

- pictures: PNG, JPEG, WebP, BMP or GIF only (``IMAGE_FORMATS``; no other Pillow decoder runs, so no Ghostscript
  for EPS), at most ``MAX_IMAGE_BYTES`` (8 MiB: the base64 text's length is checked before it is decoded, and
  Gradio's ``max_file_size`` holds uploads to the same), at most ``MAX_IMAGE_PIXELS`` (25 megapixels, read from
  the header before a pixel is decoded; Pillow's own ``MAX_IMAGE_PIXELS`` is lowered so that any decoder in the
  server refuses more). An animation gives its first frame; a big picture is reduced to ``WORKING_SIZE``
  pixels a side (a JPEG already while it is decoded) before it becomes floats;
- the angle: a number of degrees from -360 to 360; the weights tag and example: text naming a known one;
- Gradio's queue: at most ``QUEUE_SIZE`` (32) requests wait, ``CONCURRENCY`` (2) run at a time (the angle
  slider's quick redraw bypasses the queue); a full queue answers "queue is full" rather than growing.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .data import rotate
from .probes import embedded_digits
from .records import tag_dataset
from .registry import DEFAULT_TAG, WEIGHT_TAGS, create_model, published_models
from .transforms import IMAGE_FORMATS, MAX_IMAGE_PIXELS, NoDigitError, create_transform

TURN = torch.arange(0, 360, 15, dtype=torch.float64)  # the 24 angles of the curve
EXAMPLES = [str(d) for d in range(10)] + ["6 or 9? (the 6, turned upside down)"]
SIX_OR_NINE = EXAMPLES[-1]
SHORT = {"trivial_mnist": "plain CNN", "c4_mnist": "C4", "c8_mnist": "C8", "c8_wide_mnist": "C8, 1.5x wide",
         "d4_mnist": "D4 (then C4)", "so2_mnist": "SO(2)"}

# What the public API accepts. 8 MiB holds a phone's 12-megapixel JPEG (2-5 MB) and a 24-megapixel camera's
# (6000x4000, 6-8 MB); 25 megapixels holds both (a decoded RGBA copy is then at most 100 MB). A digit that spans
# a tenth of a picture reduced to 1024 pixels a side still spans 100 pixels, five times MNIST's 20-pixel box.
MAX_IMAGE_BYTES = 8 * 2**20  # formats and pixels: zoo.transforms, which bounds files the same way
WORKING_SIZE = 1024
MAX_ANGLE = 360  # degrees, either way
QUEUE_SIZE = 32  # requests waiting in Gradio's queue (each holds at most ~11 MB of base64 text)
CONCURRENCY = 2  # requests running at a time (a free Space has 2 CPUs)


class InputError(ValueError):
    """An image a person gave that cannot be read as a digit; the message is shown on the page."""


DIGIT_TAGS = tuple(t for t in WEIGHT_TAGS if tag_dataset(t) == "MNIST")  # the app shows digits: MNIST's weights


def models(weights: str = DEFAULT_TAG) -> dict[str, torch.nn.Module]:
    """The exported model of every preset for a weights tag, loaded (and self-checked) once."""
    if weights not in DIGIT_TAGS:
        raise InputError(f"unknown weights {weights!r}; choose one of {', '.join(DIGIT_TAGS)}")
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
    """Any picture of one digit -> (1, 1, 28, 28) in [0, 1], white digit on black, framed as the weights expect
    (``zoo.create_transform``, the same for every preset: any size, grey, RGB or RGBA with transparent pixels as
    the page, 8-bit or float, dark on light or light on dark; the same framing whatever the picture's angle)."""
    if image is None:
        raise InputError("No image: draw a digit, upload a picture, or pick an example.")
    try:
        return create_transform(published_models()[0])(image)[None]
    except NoDigitError as e:
        raise InputError("The sketch is empty: draw a digit (one stroke is enough) or pick an example.") from e
    except (ValueError, TypeError) as e:
        raise InputError(f"Cannot read this image ({e}); upload a PNG or JPEG of one digit.") from e


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
                weights = gr.Radio(list(DIGIT_TAGS), value=DEFAULT_TAG, label="weights", elem_id="weights",
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
    app.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)
    from PIL import Image

    # Pillow refuses (DecompressionBombError) above twice its MAX_IMAGE_PIXELS, here for every decoder in the
    # server (Gradio's own for the sketchpad's uploads too); decode_image checks the header itself.
    Image.MAX_IMAGE_PIXELS = min(Image.MAX_IMAGE_PIXELS or MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS // 2)
    return app


def launch(**options):
    """Build the app and serve it with uploads held to ``MAX_IMAGE_BYTES`` (Gradio's ``max_file_size``).

    ``options`` go to Gradio's ``Blocks.launch`` (``server_name``, ``server_port``, ``share``, ...). A Hugging
    Face Space's ``app.py``: ``from zoo.app import launch; launch()``.
    """
    return build_app().launch(**{"max_file_size": MAX_IMAGE_BYTES, **options})


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
    def call(angle: float, weights: str) -> dict:
        example_digit(example)  # the name, whatever came (classify reads an empty one as "no example")
        return classify(None, example, angle, weights)

    return _api(call, angle, weights)


def _api_classify_image(image: str, angle: float = 0.0, weights: str = DEFAULT_TAG) -> dict:
    """Predictions of every preset for your picture of one digit turned by ``angle`` degrees (-360 to 360), framed
    as the page frames a drawing (``to_mnist``). ``image``: a PNG, JPEG, WebP, BMP or GIF (its first frame) of at
    most 8 MiB and 25 megapixels, base64-encoded (a ``data:image/png;base64,...`` URL or the bare base64 text)."""
    return _api(lambda angle, weights: classify(decode_image(image), None, angle, weights), angle, weights)


def _api(call, angle, weights) -> dict:
    """``call(angle, weights)`` once both are checked; a bad request becomes one message for the caller."""
    import gradio as gr

    try:
        if isinstance(angle, bool) or not isinstance(angle, (int, float)) or not -MAX_ANGLE <= angle <= MAX_ANGLE:
            raise InputError(f"angle: expected a number of degrees from -{MAX_ANGLE} to {MAX_ANGLE}, got "
                             f"{angle!r:.40}")  # NaN fails the comparison too
        if not isinstance(weights, str):
            raise InputError(f"weights: expected one of {', '.join(map(repr, DIGIT_TAGS))}, got {weights!r:.40}")
        return call(float(angle), weights)
    except InputError as e:
        raise gr.Error(str(e)) from e  # shown to the caller (other exceptions stay server-side)


def decode_image(text: str):
    """A base64-encoded picture (optionally a data URL) -> an 8-bit PIL image (L, RGB or RGBA) at most
    ``WORKING_SIZE`` pixels a side, turned upright by its EXIF orientation; an ``InputError`` for anything else.

    Bounded before it is decoded: at most ``MAX_IMAGE_BYTES`` (from the base64 text's length), one of
    ``IMAGE_FORMATS`` (no other Pillow decoder runs), at most ``MAX_IMAGE_PIXELS`` (from the header). Only the
    first frame of an animation is decoded; a big JPEG is decoded at 1/2, 1/4 or 1/8 of its size.
    """
    import base64
    import io

    from PIL import Image, ImageOps, UnidentifiedImageError

    formats = f"{', '.join(IMAGE_FORMATS[:-1])} or {IMAGE_FORMATS[-1]}"
    if not isinstance(text, str):
        raise InputError(f"Cannot read the image: expected base64 text (data:image/png;base64,...), got "
                         f"{type(text).__name__}; send a {formats} picture of one digit.")
    payload = text.split(",", 1)[1] if text.startswith("data:") and "," in text else text
    if not payload:
        raise InputError(f"No image: send a {formats} picture of one digit, base64-encoded "
                         "(data:image/png;base64,...).")
    if len(payload) > 4 * -(-MAX_IMAGE_BYTES // 3):  # base64: 4 characters for every 3 bytes
        raise InputError(f"The image is {len(payload) * 3 // 4:,} bytes; at most {MAX_IMAGE_BYTES:,} "
                         f"({MAX_IMAGE_BYTES / 2**20:g} MiB) are accepted: send a smaller {formats} picture.")
    try:
        data = base64.b64decode(payload, validate=True)
    except ValueError as e:  # binascii.Error, or text that is not ASCII
        raise InputError(f"Cannot read the image: not valid base64 ({e}); send a {formats} picture of one digit, "
                         "base64-encoded.") from e

    def too_large(size: str) -> InputError:
        return InputError(f"The image is {size}; at most {MAX_IMAGE_PIXELS:,} pixels (e.g. 6000x4000) are accepted: "
                          "send a smaller picture.")

    try:
        image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)  # reads the header only
    except UnidentifiedImageError as e:
        raise InputError(f"Cannot read the image: not a {formats} file (the formats accepted).") from e
    except Image.DecompressionBombError as e:  # Pillow's own limit: twice its MAX_IMAGE_PIXELS
        raise too_large(f"more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels") from e
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise too_large(f"{width}x{height} pixels")
    try:
        side = max(width, height)  # JPEG: decode at 1/2, 1/4 or 1/8 size, the smallest that covers the working size
        image.draft(None, (-(-width * WORKING_SIZE // side), -(-height * WORKING_SIZE // side)))
        image.load()  # the first frame: an animation's others are never decoded
        if image.mode.startswith("I;16"):  # a 16-bit grey PNG: keep the high byte (Pillow's convert clips at 255)
            image = Image.fromarray((np.asarray(image) >> 8).astype(np.uint8))
        mode = "RGBA" if image.has_transparency_data else "L" if image.mode in ("1", "L") else "RGB"
        image = image.convert(mode) if image.mode != mode else image
        image.thumbnail((WORKING_SIZE, WORKING_SIZE))
        return ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, EOFError) as e:  # a truncated or corrupt file
        raise InputError(f"Cannot read the image ({e}); send a complete {formats} picture of one digit.") from e
