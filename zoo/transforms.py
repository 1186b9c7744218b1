"""Preprocessing that travels with the weights: a picture of one digit or one clothing item -> the tensor the
network expects. ``pretrained_cfg.framing`` names the framing (``FRAMINGS``): "mnist_invariant" for the MNIST
weights (``DigitFraming``), "fashion_mnist" for weights fine-tuned on Fashion-MNIST (``FashionFraming``).

    transform = zoo.create_transform(model)          # or a preset name, or model.pretrained_cfg
    x = transform(Image.open("digit.png")).unsqueeze(0)
    logits = model(x)

``DigitFraming`` frames any picture of one digit (a file, a PIL image or a numpy array; grey, RGB or RGBA;
8-bit, 16-bit or float; dark ink on a light page or light on dark, any margin) the way the weights saw digits
in training, and does so *invariantly to the picture's rotation*: framing a turned picture gives the framing
of the upright one, turned about the frame's centre (the centre ``zoo.data.rotate`` turns training digits
about, and the one the networks are symmetric about). Steps:

1. Ink: the page's background is a smooth surface (a quadratic in x and y, fitted robustly to the pixels that
   are not ink), so a grey, uneven or graded page becomes 0; which side of it the ink lies on (darker or
   lighter) is read from the residuals; noise and JPEG ringing below a few noise deviations is cut, and
   specks of one or two pixels are dropped. Ink is scaled so the strokes' core is 1 (MNIST's white).
2. Where: the ink's centre of mass goes to the frame's centre. It is rotation-equivariant. MNIST puts it at
   pixel (14, 14), half a pixel right of and below the centre (13.5, 13.5); a rotated training image carries
   that offset turned with the digit, and the published weights read it as a hint of which way is down
   (6 against 9). A fixed (14, 14) would hand a turned picture a false hint; the centre hands every picture
   none. docs/pictures.md measures both.
3. How big: MNIST scales a digit's bounding box into 20x20 pixels, which depends on the digit's angle. Here
   the size is the radius around the centre of mass that holds 95% of the ink (rotation-invariant), scaled to
   ``MNIST_RADIUS``, that radius's median over MNIST's 55,000 training images: of the rotation-invariant
   measures tried (radius of gyration, principal axes, ink radii, bounding squares over angles) it predicts
   MNIST's own scale best among the robust ones (``experiments/photos.py --calibrate``).
4. Resampling: an anti-aliased (area-like) reduction to about twice the final size, then one bilinear
   interpolation that puts the centre of mass at the centre with the measured scale.

``FashionFraming`` frames a picture of one clothing item or shoe (a product photo: the item on a plain light or
dark page) as Fashion-MNIST frames its images: the item light on black (a light page's picture negated, as
Fashion-MNIST negates its product photos; on a dark page kept as it is; a transparent page is white), its longer
side 28 pixels, centred, the brightest pixel 1. The page, the item and the noise are found as for digits, with
the item's faint parts kept (light fabric: anything above ``ITEM_OUTLINE`` of its brightest pixel) and only the
page's noise cut. Fashion-MNIST centres the item's bounding box (not its centre of mass, which lies a median
1.25 pixels and up to 4.4 from it: a shoe's toe would leave the frame) and scales its longer side to 28 pixels.
A turned item has another bounding box, so the framing uses the smallest-area rectangle around the item's
outline at any angle instead: it turns with the item, and on Fashion-MNIST's upright training images it is the
bounding box itself (its centre within 0.1 pixel of the box's in 95.8% of them, its longer side 28 pixels,
``experiments/fashion_photos.py --geometry``). So a turned photo is framed as the turned training image:
measured on product photos of test images with weights fine-tuned on rotated Fashion-MNIST, the bounding box
loses about ten points of accuracy on turned photos, the rectangle under two (docs/pictures.md).
``upright=True`` frames by the bounding box, Fashion-MNIST's own recipe, for pictures known to be upright.

A picture with no digit raises ``NoDigitError``, one with no item ``NoObjectError`` (both ``ValueError``). What
is read is bounded before it is decoded: ``IMAGE_FORMATS`` and ``MAX_IMAGE_PIXELS``, as in the app.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .files import CheckpointInfo
from .registry import PretrainedCfg, pretrained_cfg, resolve_pretrained_cfg

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")  # Pillow's names; no other decoder runs on a file
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
MAX_IMAGE_PIXELS = 25_000_000  # 6000x4000, a 24-megapixel camera's picture

MNIST_SIZE = 28
MNIST_RADIUS = 10.30  # median 95%-ink radius of MNIST's training split, pixels (experiments/photos.py --calibrate)
INK_SHARE = 0.95  # the share of the ink within the radius that sets the scale
FRAMING = "mnist_invariant"  # the name ``pretrained_cfg.framing`` gives this framing
FASHION_FRAMING = "fashion_mnist"  # the name ``pretrained_cfg.framing`` gives ``FashionFraming``
ITEM_OUTLINE = 0.1  # an item's outline: where its ink passes this share of its brightest pixel

_COARSE = 256  # pixels a side where the background is fitted and the digit found
_DIGIT_PIXELS = 112  # the digit's extent where it is measured (four times MNIST's 28)


class NoObjectError(ValueError):
    """The picture holds nothing that stands out from its background: nothing to frame."""


class NoDigitError(NoObjectError):
    """The picture holds no ink that stands out from its background: no digit to frame."""


@dataclass(frozen=True)
class DigitFraming:
    """A picture of one digit -> float tensor (in_channels, size, size) in [0, 1], white ink on black, framed as
    the weights expect (see the module's docstring). Invariant to the picture's rotation, scale and position."""

    in_channels: int = 1
    size: int = MNIST_SIZE
    radius: float = MNIST_RADIUS * MNIST_SIZE / 28  # the ink radius in output pixels
    offset: float = 0.0  # where the centre of mass goes: this many pixels right of and below the centre

    def __call__(self, picture) -> torch.Tensor:
        framed = frame_digit(read_picture(picture), self.size, self.radius, self.offset)
        return framed.expand(self.in_channels, -1, -1).clone()

    def __repr__(self) -> str:
        return (f"DigitFraming(in_channels={self.in_channels}, size={self.size}, radius={self.radius:g}, "
                f"offset={self.offset:g})")


@dataclass(frozen=True)
class FashionFraming:
    """A picture of one clothing item or shoe -> float tensor (in_channels, size, size) in [0, 1], the item light
    on black, framed as Fashion-MNIST frames its images (see the module's docstring). Invariant to the picture's
    rotation, scale and position; ``upright=True`` frames by the upright bounding box, as Fashion-MNIST does."""

    in_channels: int = 1
    size: int = MNIST_SIZE
    upright: bool = False

    def __call__(self, picture) -> torch.Tensor:
        framed = frame_item(read_picture(picture, transparent=1.0), self.size, self.upright)
        return framed.expand(self.in_channels, -1, -1).clone()


def _digit_framing(in_channels: int, size: int, upright: bool) -> DigitFraming:
    return DigitFraming(in_channels=in_channels, size=size, radius=MNIST_RADIUS * size / 28,
                        offset=0.5 * upright * size / 28)


# ``pretrained_cfg.framing`` -> the framing for the weights' input: (in_channels, size, upright) -> a transform
FRAMINGS: dict[str, Callable[[int, int, bool], Callable]] = {FRAMING: _digit_framing,
                                                             FASHION_FRAMING: FashionFraming}


def create_transform(model, *, upright: bool = False) -> Callable:
    """The transform the weights of ``model`` expect: a callable from a picture (a file path, a PIL image or a
    numpy array) to a float tensor (C, H, W).

    ``model``: a model with ``pretrained_cfg`` (from ``zoo.create_model``), a preset name (``"c8_mnist"``,
    ``"c8_mnist.upright"``) or a ``PretrainedCfg``. A model loaded from a checkpoint folder is described by its
    ``meta``; one built untrained gets the framing for its ``in_channels``.

    ``upright=True`` is for pictures known to be upright: the centre of mass goes where MNIST puts it, half a
    pixel right of and below the centre, which the published weights read as "down" (better on upright
    pictures, worse on turned ones; docs/pictures.md); a clothing item is framed by its bounding box, as
    Fashion-MNIST frames it. The default frames every picture the same way, whatever its angle.
    """
    if isinstance(model, str):
        cfg = resolve_pretrained_cfg(model)
    elif isinstance(model, PretrainedCfg):
        cfg = model
    elif isinstance(model, torch.nn.Module):
        cfg, meta = getattr(model, "pretrained_cfg", None), getattr(model, "meta", None)
        if cfg is None and isinstance(meta, CheckpointInfo) and meta.architecture:  # zoo.checkpoint loaded it
            cfg = pretrained_cfg(meta.to_dict())
        if cfg is None:
            return DigitFraming(in_channels=int(getattr(model, "in_channels", 1)), offset=0.5 * upright)
    else:
        raise TypeError(f"create_transform takes a model, a preset name or a PretrainedCfg, got "
                        f"{type(model).__name__}")
    if cfg.framing not in FRAMINGS:
        raise ValueError(f"unknown framing {cfg.framing!r}; known: {', '.join(FRAMINGS)}")
    channels, height, width = cfg.input_size
    if height != width:
        raise ValueError(f"{cfg.framing} frames square pictures; the weights expect {height}x{width}")
    return FRAMINGS[cfg.framing](in_channels=channels, size=height, upright=upright)


# ----------------------------------------------------------------------------------------------- reading --

def open_picture(path: str | os.PathLike):
    """A picture file as a PIL image, refused before its pixels are decoded if it is not one of
    ``IMAGE_FORMATS`` or has more than ``MAX_IMAGE_PIXELS`` pixels. An animation gives its first frame."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path, formats=IMAGE_FORMATS)
    except UnidentifiedImageError as e:
        raise ValueError(f"{path} is not a {', '.join(IMAGE_FORMATS)} picture ({e})") from e
    except Image.DecompressionBombError as e:  # Pillow's own cap (twice its MAX_IMAGE_PIXELS), read off the header
        raise ValueError(f"{path} has more than {MAX_IMAGE_PIXELS:,} pixels (e.g. 6000x4000): {e}") from e
    _check_pixels(image.size, str(path))
    image.load()
    return image


def read_picture(picture, transparent: float | None = None) -> np.ndarray:
    """A file path, PIL image, numpy array (H, W), (H, W, 1|3|4) or tensor (H, W), (1|3|4, H, W) -> grey levels
    (H, W) float32 in [0, 1], transparent pixels replaced by the page around the strokes: the grey level
    ``transparent``, or by default the shade (white or black) that contrasts with what is drawn."""
    if isinstance(picture, (str, os.PathLike)):
        picture = open_picture(Path(picture))
    if hasattr(picture, "getbands"):  # a PIL image
        picture = _pil_array(picture)
    elif isinstance(picture, torch.Tensor):
        picture = picture.detach().cpu()
        picture = (picture.permute(1, 2, 0) if picture.ndim == 3 and picture.shape[0] in (1, 3, 4)
                   else picture).numpy()
    if not isinstance(picture, np.ndarray):
        raise TypeError(f"expected a file path, a PIL image or a numpy array of a picture, got "
                        f"{type(picture).__name__}")
    array = picture
    if array.dtype.kind not in "biuf" or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in
                                                                       (1, 3, 4)):
        raise TypeError(f"expected a picture as an array (H, W) or (H, W, 1|3|4) of numbers, got shape "
                        f"{array.shape} of {array.dtype}")
    if min(array.shape[:2]) < 1:
        raise ValueError(f"the picture is empty (shape {array.shape})")
    _check_pixels(array.shape[1::-1], "the picture")
    pixels = array.astype(np.float32)
    if not np.isfinite(pixels).all():
        raise ValueError("the picture contains invalid values (NaN or inf); expected finite pixel values")
    if array.dtype.kind in "iu" and array.dtype.itemsize > 1 and pixels.max() > 255:
        pixels /= np.iinfo(array.dtype).max
    elif array.dtype.kind != "b" and pixels.max() > 1:  # 8-bit values, as integers or floats
        pixels /= 255
    pixels = np.clip(pixels, 0, 1)
    if pixels.ndim == 2:
        return pixels
    grey = pixels[..., :3].mean(-1) if pixels.shape[2] >= 3 else pixels[..., 0]
    if pixels.shape[2] == 4:
        alpha = pixels[..., 3]
        if transparent is None:
            opaque = alpha > 0.5
            if not opaque.any():
                raise NoDigitError("the picture is fully transparent: no digit to frame")
            # a transparent page takes the shade that contrasts with the strokes drawn on it
            page = 1.0 if grey[opaque].mean() < 0.5 else 0.0
        else:
            page = transparent
        grey = alpha * grey + (1 - alpha) * page
    return grey.astype(np.float32)


def _check_pixels(size: tuple[int, int], what: str) -> None:
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(f"{what} is {width}x{height} pixels; at most {MAX_IMAGE_PIXELS:,} (e.g. 6000x4000) are "
                         "accepted: reduce it first")


def _pil_array(image) -> np.ndarray:
    from PIL import ImageOps

    _check_pixels(image.size, "the picture")
    image = ImageOps.exif_transpose(image)  # a phone's photo, as the phone showed it
    if image.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(image, dtype=np.uint16)
    if image.mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float32)
        return array / 65535 if image.mode == "I" and array.max() > 255 else array
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return np.asarray(image.convert("RGBA"))
    return np.asarray(image.convert("L" if image.mode in ("1", "L", "P") else "RGB"))


# ----------------------------------------------------------------------------------------------- framing --

def frame_digit(grey: np.ndarray, size: int = MNIST_SIZE, radius: float = MNIST_RADIUS,
                offset: float = 0.0) -> torch.Tensor:
    """Grey levels (H, W) in [0, 1] of a picture of one digit -> (1, size, size): white ink on black, the ink's
    centre of mass at the frame's centre (moved ``offset`` pixels right and down), ``INK_SHARE`` of the ink
    within ``radius`` pixels of it."""
    # 1-2. the page, the ink and the digit cropped from the full picture
    ink, mask, sigma = _cut_out(grey, "digit")
    ink = _normalise(ink, mask, sigma)
    if ink.sum() <= 0:
        raise _nothing("digit")
    # 3. where and how big: centre of mass and the ink radius, both unchanged by a rotation of the picture
    cy, cx, r = _centre_and_radius(ink)
    far = _grid(*ink.shape, cy, cx) > 2.5 * r  # a smudge far from the digit moves neither
    if far.any() and ink[far].sum() > 0:
        ink = ink.masked_fill(far, 0)
        cy, cx, r = _centre_and_radius(ink)
    # 4. resample; the strokes' core white, as in MNIST, however thin the pen
    return _resample(ink, cy, cx, radius / max(r, 1e-6), size, offset, "digit")


def frame_item(grey: np.ndarray, size: int = MNIST_SIZE, upright: bool = False) -> torch.Tensor:
    """Grey levels (H, W) in [0, 1] of a picture of one clothing item or shoe -> (1, size, size): the item light on
    black (a light page's picture negated), the smallest rectangle around its outline (at any angle; ``upright``:
    the bounding box) centred, with its longer side ``size`` pixels, the brightest pixel 1."""
    # 1-2. the page and the item: its faint parts too (a light fabric's shade), only the page's noise cut
    ink, mask, sigma = _cut_out(grey, "item", by_page=True, share=ITEM_OUTLINE)
    ink = (ink.masked_fill(~mask, 0) - 3 * sigma).clamp_min(0)
    peak = ink.max().item()
    if peak <= 0:
        raise _nothing("item")
    # 3. where and how big: the rectangle turns with the item; upright, it is Fashion-MNIST's bounding box
    cy, cx, side = _bounding_rectangle(ink > ITEM_OUTLINE * peak, upright)
    # 4. resample; the brightest pixel white, as Fashion-MNIST's 8-bit conversion stretches it
    return _resample(ink, cy, cx, size / side, size, 0.0, "item")


def _cut_out(grey: np.ndarray, what: str, by_page: bool = False,
             share: float = 0.3) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Steps 1 and 2 of every framing: the page fitted and the object (a ``what``) found on a reduced copy of the
    picture (where its ink is above ``share`` of its level), then cut from the full picture with a margin, at about
    ``_DIGIT_PIXELS`` a side. Returns its ink there (how far the picture stands from the page, on the side that
    stands out more, or with ``by_page`` on the side away from the page's shade), where the object is (a dilated
    mask) and the noise's deviation."""
    image = torch.from_numpy(np.ascontiguousarray(grey, dtype=np.float32))
    height, width = image.shape
    # 1. the page and the ink, found where a picture of any size is small
    coarse = _reduce(image, min(1.0, _COARSE / max(height, width)))
    surface, sign, sigma, level = _page(coarse, by_page)
    support = _support(sign * (coarse - _evaluate(surface, *coarse.shape)), sigma, level, share)
    rows, cols = torch.nonzero(support, as_tuple=True)
    if len(rows) == 0:
        raise _nothing(what)
    # 2. the object cropped from the full picture (with a margin), at about _DIGIT_PIXELS a side
    fy, fx = height / coarse.shape[0], width / coarse.shape[1]
    top, bottom = rows.min().item() * fy, (rows.max().item() + 1) * fy
    left, right = cols.min().item() * fx, (cols.max().item() + 1) * fx
    extent = max(bottom - top, right - left)
    margin = 0.3 * extent + 2 * max(fy, fx)
    y0, y1 = max(0, int(top - margin)), min(height, int(bottom + margin) + 1)
    x0, x1 = max(0, int(left - margin)), min(width, int(right + margin) + 1)
    factor = min(1.0, _DIGIT_PIXELS / extent)
    crop = _reduce(image[y0:y1, x0:x1], factor)
    ch, cw = crop.shape
    ys = (y0 + (torch.arange(ch) + 0.5) * (y1 - y0) / ch) / height  # the crop's pixel centres, page coordinates
    xs = (x0 + (torch.arange(cw) + 0.5) * (x1 - x0) / cw) / width
    ink = sign * (crop - _evaluate(surface, ch, cw, ys, xs))
    rows = (ys * coarse.shape[0]).long().clamp(max=coarse.shape[0] - 1)
    cols = (xs * coarse.shape[1]).long().clamp(max=coarse.shape[1] - 1)
    mask = _dilate(support[rows][:, cols], max(1, round(0.04 * max(ch, cw))))
    page = ink[~mask]  # the noise at this resolution, from the page around the object
    if page.numel() >= 64:
        sigma = 1.4826 * (page - page.median()).abs().median().item()
    return ink, mask, sigma


def _resample(ink: torch.Tensor, cy: float, cx: float, scale: float, size: int, offset: float,
              what: str) -> torch.Tensor:
    """Step 4 of every framing: ``ink`` (H, W) -> (1, size, size), pixel (cy, cx) of ``ink`` at the frame's centre
    (moved ``offset`` pixels right and down), ``scale`` output pixels per pixel of ``ink``, the brightest pixel 1.
    An anti-aliased reduction to about twice the final scale, then one bilinear interpolation."""
    ch, cw = ink.shape
    if scale < 0.5:
        reduced = _reduce(ink, 2 * scale)
        sy, sx = reduced.shape[0] / ch, reduced.shape[1] / cw
        ink, cy, cx, scale = reduced, (cy + 0.5) * sy - 0.5, (cx + 0.5) * sx - 0.5, scale / sy
    centre = (size - 1) / 2  # pixel-centre coordinates: the centre zoo.data.rotate turns about
    out = torch.arange(size, dtype=torch.float32) - centre - offset
    gy = (cy + out / scale) * 2 / (ink.shape[0] - 1) - 1 if ink.shape[0] > 1 else out * 0
    gx = (cx + out / scale) * 2 / (ink.shape[1] - 1) - 1 if ink.shape[1] > 1 else out * 0
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None]
    framed = F.grid_sample(ink[None, None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)[0]
    peak = framed.max()
    if peak <= 0:
        raise _nothing(what)
    return (framed / peak).clamp(0, 1)


def _nothing(what: str) -> NoObjectError:
    """The error for a picture without a ``what`` (``"digit"``, ``"item"``) to frame."""
    if what == "digit":
        return NoDigitError("the picture holds no ink that stands out from its background: no digit to frame")
    return NoObjectError(f"the picture holds nothing that stands out from its background: no {what} to frame")


def _reduce(image: torch.Tensor, factor: float) -> torch.Tensor:
    """``image`` (H, W) scaled by ``factor`` <= 1 with an anti-aliasing (triangle) filter as wide as the step."""
    if factor >= 1:
        return image
    size = (max(1, round(image.shape[0] * factor)), max(1, round(image.shape[1] * factor)))
    return F.interpolate(image[None, None].float(), size=size, mode="bilinear", antialias=True,
                         align_corners=False)[0, 0]


def _design(ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """The quadratic surface's terms at page coordinates (rows ys, columns xs in [0, 1]): (len(ys)*len(xs), 6)."""
    y, x = torch.meshgrid(ys.double() - 0.5, xs.double() - 0.5, indexing="ij")
    y, x = y.reshape(-1), x.reshape(-1)
    return torch.stack([torch.ones_like(x), x, y, x * x, x * y, y * y], 1)


def _evaluate(surface: torch.Tensor, h: int, w: int, ys: torch.Tensor | None = None,
              xs: torch.Tensor | None = None) -> torch.Tensor:
    ys = (torch.arange(h) + 0.5) / h if ys is None else ys
    xs = (torch.arange(w) + 0.5) / w if xs is None else xs
    return (_design(ys, xs) @ surface).reshape(h, w).float()


def _page(coarse: torch.Tensor, by_page: bool = False) -> tuple[torch.Tensor, float, float, float]:
    """The page under the ink: a quadratic surface fitted to the pixels that are not ink (both tails refused, so
    the fit does not need to know the ink's polarity), the ink's sign (+1: lighter than the page; the side that
    stands out more, or with ``by_page`` the side away from the page's shade: darker on a light page), the
    noise's deviation and the ink's level (how far its strokes stand from the page)."""
    h, w = coarse.shape
    design, values = _design((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w), coarse.reshape(-1).double()
    spread = 1.4826 * (values - values.median()).abs().median().item()
    keep = (values - values.median()).abs() < 3 * spread + 0.02  # a flat page first: the ink stands out of it
    for _ in range(5):  # least squares on the kept pixels, by the 6x6 normal equations
        weighted = design * keep[:, None]
        surface = torch.linalg.solve(weighted.T @ design + 1e-9 * torch.eye(6, dtype=design.dtype),
                                     weighted.T @ values)
        residual = values - design @ surface
        sigma = 1.4826 * (residual[keep] - residual[keep].median()).abs().median().item() + 1e-4
        keep = residual.abs() < 3 * sigma + 0.02
    residual = residual.reshape(h, w).float()
    smooth = F.avg_pool2d(residual[None, None], 3, 1, 1, count_include_pad=False)[0, 0]  # noise averaged out
    if by_page:
        sign = -1.0 if (design @ surface).mean().item() > 0.5 else 1.0
    else:
        sign = 1.0 if smooth.max() >= -smooth.min() else -1.0
    level = smooth.max().item() if sign > 0 else -smooth.min().item()
    return surface, sign, sigma, level


def _support(ink: torch.Tensor, sigma: float, level: float, share: float = 0.3) -> torch.Tensor:
    """Where the digit is: ink well above the noise and ``share`` of the strokes' level, specks removed."""
    if level < max(0.06, 6 * sigma):
        return torch.zeros_like(ink, dtype=torch.bool)
    strokes = ink > max(4 * sigma, share * level)
    neighbours = F.avg_pool2d(strokes[None, None].float(), 3, 1, 1, count_include_pad=False)[0, 0] * 9
    return strokes & (neighbours >= 2.5)  # specks of noise go; a stroke one pixel wide has two neighbours


def _dilate(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """``mask`` grown by ``pixels`` in every direction (a square: rows, then columns)."""
    grown = F.max_pool2d(mask[None, None].float(), (2 * pixels + 1, 1), 1, (pixels, 0))
    return F.max_pool2d(grown, (1, 2 * pixels + 1), 1, (0, pixels))[0, 0] > 0


def _normalise(ink: torch.Tensor, mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """Ink within the digit's support, the noise floor cut, scaled so the strokes' core is 1."""
    ink = ink.masked_fill(~mask, 0)
    inside = ink[mask]
    core = torch.quantile(inside, 0.98).item() if inside.numel() else 0.0
    floor = max(3 * sigma, 0.15 * core)
    if core <= floor:
        return torch.zeros_like(ink)
    return ((ink - floor) / (0.8 * core - floor)).clamp(0, 1)


def _grid(h: int, w: int, cy: float, cx: float) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    return ((y - cy) ** 2 + (x - cx) ** 2).sqrt()


def _centre_and_radius(ink: torch.Tensor, share: float = INK_SHARE) -> tuple[float, float, float]:
    """The ink's centre of mass (row, column) and the radius around it that holds ``share`` of the ink."""
    mass = ink.double()
    total = mass.sum()
    y, x = torch.meshgrid(torch.arange(ink.shape[0], dtype=torch.float64),
                          torch.arange(ink.shape[1], dtype=torch.float64), indexing="ij")
    cy, cx = ((mass * y).sum() / total).item(), ((mass * x).sum() / total).item()
    return cy, cx, ink_radius(mass, cy, cx, share)


def ink_radius(mass: torch.Tensor, cy: float, cx: float, share: float = INK_SHARE) -> float:
    """The radius around (cy, cx) holding ``share`` of the ink ``mass`` (H, W), interpolated between pixels."""
    distance = _grid(*mass.shape, cy, cx).reshape(-1)
    order = distance.argsort()
    cumulative = mass.reshape(-1).double()[order].cumsum(0)
    cumulative = cumulative / cumulative[-1]
    i = int(torch.searchsorted(cumulative, torch.tensor([share], dtype=torch.float64)).item())
    i = min(max(i, 1), len(order) - 1)
    d0, d1, c0, c1 = distance[order[i - 1]], distance[order[i]], cumulative[i - 1], cumulative[i]
    return float(d0 + (d1 - d0) * ((share - c0) / (c1 - c0)).clamp(0, 1)) if c1 > c0 else float(d1)


_RECTANGLE_ANGLES = torch.arange(0, 90, 0.25, dtype=torch.float64) * (math.pi / 180)  # a quarter degree apart


def _bounding_rectangle(mask: torch.Tensor, upright: bool = False) -> tuple[float, float, float]:
    """The smallest-area rectangle holding the pixels (unit squares) of ``mask`` (H, W), its sides at any angle
    (``upright``: along the rows and columns, the bounding box): its centre (row, column) and its longer side.
    Turning ``mask`` turns the rectangle with it; the angles are tried a quarter degree apart."""
    rows = torch.nonzero(mask.any(1), as_tuple=True)[0]
    if len(rows) == 0:
        raise ValueError("an empty mask has no bounding rectangle")
    width = mask.shape[1]
    first = mask[rows].float().argmax(1)
    last = width - 1 - mask[rows].flip(1).float().argmax(1)
    # the outermost pixel of each row at either end: the rest lie inside their hull
    centres = torch.cat([torch.stack([rows, first], 1), torch.stack([rows, last], 1)]).double()
    corners = torch.tensor([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]], dtype=torch.float64)
    points = (centres[:, None] + corners).reshape(-1, 2)
    angles = _RECTANGLE_ANGLES[:1] if upright else _RECTANGLE_ANGLES
    cos, sin = angles.cos(), angles.sin()
    along = points[:, :1] * cos + points[:, 1:] * sin  # (points, angles): along the rectangle's first side
    across = points[:, 1:] * cos - points[:, :1] * sin
    a0, a1, b0, b1 = along.min(0).values, along.max(0).values, across.min(0).values, across.max(0).values
    best = int(((a1 - a0) * (b1 - b0)).argmin())
    a, b = (a0[best] + a1[best]).item() / 2, (b0[best] + b1[best]).item() / 2
    c, n = cos[best].item(), sin[best].item()
    side = max(a1[best] - a0[best], b1[best] - b0[best]).item()
    return a * c - b * n, a * n + b * c, side
