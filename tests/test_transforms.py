"""zoo.create_transform: pictures of digits framed as the weights expect, whatever the picture's angle."""
import gzip
import io
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import zoo
from conftest import DATA_ROOT, loaded, png_header, requires
from zoo import create_transform
from zoo.data import rotate
from zoo.registry import PretrainedCfg
from zoo.transforms import (FRAMINGS, MAX_IMAGE_PIXELS, DigitFraming, FashionFraming, NoDigitError, NoObjectError,
                            _centre_and_radius)

FRAME = DigitFraming()


def relative_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def centre_of_mass(image: torch.Tensor) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    return torch.stack([(image * ys).sum(), (image * xs).sum()]) / image.sum()


def page(digit: torch.Tensor, kind: str, seed: int = 0) -> np.ndarray:
    """An MNIST digit (28, 28) as a picture of one of several kinds."""
    rng = np.random.default_rng(seed)
    zoom = 6
    big = F.interpolate(digit[None, None], scale_factor=zoom, mode="bicubic", align_corners=False)[0, 0].clamp(0, 1)
    if kind == "thick":
        big = F.max_pool2d(big[None, None], 7, 1, 3)[0, 0]  # strokes one MNIST pixel wider
    if kind == "thin":
        big = -F.max_pool2d(-big[None, None], 5, 1, 2)[0, 0]  # strokes 2/3 of an MNIST pixel thinner
    margin = 600 if kind == "huge margin" else 40
    h, w = big.shape[0] + 2 * margin, big.shape[1] + 3 * margin
    paper = np.full((h, w), 0.9, dtype=np.float32)
    if kind in ("gradient", "grey"):
        y, x = np.mgrid[0:h, 0:w] / max(h, w)
        paper = (0.55 + 0.3 * x + 0.1 * y).astype(np.float32) if kind == "gradient" else paper * 0 + 0.5
    ink = 0.05 if kind != "grey" else 0.15
    picture = paper.copy()
    region = picture[margin:margin + big.shape[0], 2 * margin:2 * margin + big.shape[1]]
    region += (ink - region) * big.numpy()
    if kind in ("noise", "jpeg", "rgb", "rgba"):
        picture += rng.normal(0, 0.03, picture.shape).astype(np.float32)
    picture = (np.clip(picture, 0, 1) * 255).astype(np.uint8)
    if kind == "jpeg":
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, format="JPEG", quality=70)
        return np.asarray(Image.open(buffer))
    if kind == "rgb":
        return np.stack([picture, picture * 0.9, picture * 0.8], -1).astype(np.uint8)
    if kind == "rgba":
        return np.dstack([picture, picture, picture, np.full_like(picture, 255)])
    if kind == "light on dark":
        return 255 - picture
    return picture


@pytest.fixture(scope="module")
def mnist():
    from zoo.data import load_mnist

    if not (DATA_ROOT / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        pytest.skip(f"genuine MNIST not found under {DATA_ROOT}")
    images, labels = load_mnist(DATA_ROOT, train=False)
    return images[:200], labels[:200]


def test_the_api_of_the_model_card(tmp_path, digits):
    from PIL import Image

    model = loaded("c8_mnist")
    picture = (255 - digits[0][3, 0] * 255).to(torch.uint8).numpy()
    Image.fromarray(picture).save(tmp_path / "digit.png")
    transform = create_transform(model)
    x = transform(Image.open(tmp_path / "digit.png")).unsqueeze(0)
    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() and x.max() == 1
    assert torch.equal(transform(tmp_path / "digit.png"), x[0]) and torch.equal(transform(picture), x[0])
    with torch.no_grad():
        assert model(x).argmax().item() == digits[1][3].item()
    exported = zoo.create_model("c8_mnist", pretrained=True, export=True)
    assert create_transform("c8_mnist.upright") == transform == create_transform(exported.pretrained_cfg)


def test_upright_digits_are_framed_as_mnist_frames_them(mnist):
    """The framed digit is the MNIST image itself, moved so its centre of mass is at the frame's centre (where
    the networks are symmetric) and scaled by the invariant size measure: close, not equal."""
    images, _ = mnist
    distances, shifted, misplaced = [], [], []
    for image in images[:100]:
        framed = FRAME(image[0].numpy())[0]
        misplaced.append(float((centre_of_mass(framed) - 13.5).abs().max()))  # moved by ink cut at the frame
        com = centre_of_mass(image[0])
        reference = rotate(image[None], 0.0, shift=torch.tensor([[13.5 - com[1], 13.5 - com[0]]]))[0, 0]
        distances.append(relative_distance(framed, reference))
        shifted.append(relative_distance(torch.roll(reference, 1, 0), reference))
    # closer to MNIST's own image than that image is to itself moved by one pixel (the scale differs by ~7%)
    assert np.median(distances) < 0.75 * np.median(shifted), (np.median(distances), np.median(shifted))
    assert np.median(misplaced) < 0.02 and max(misplaced) < 0.3, (np.median(misplaced), max(misplaced))
    # with upright=True the centre of mass goes where MNIST puts it
    framed = create_transform("c8_mnist", upright=True)(images[0, 0].numpy())[0]
    assert torch.allclose(centre_of_mass(framed), torch.tensor([14.0, 14.0]), atol=0.05)


@pytest.mark.parametrize("angle", [90.0, 37.0, 200.0])
def test_turning_the_picture_turns_the_framed_digit(angle, mnist):
    """frame(turned picture) = turned frame(picture), about the frame's centre, as training turns digits."""
    images, labels = mnist
    model = loaded("so2_mnist")
    distances, agree = [], 0
    for image in images[:40]:
        big = F.interpolate(image[None], scale_factor=4, mode="bilinear", align_corners=False)
        big = F.pad(big, (30, 30, 30, 30))
        framed_then_turned = rotate(FRAME(big[0, 0].numpy())[None], angle)
        turned_then_framed = FRAME(rotate(big, angle)[0, 0].numpy())[None]
        distances.append(relative_distance(turned_then_framed, framed_then_turned))
        with torch.no_grad():
            agree += model(turned_then_framed).argmax() == model(framed_then_turned).argmax()
    assert np.median(distances) < 0.15, np.median(distances)
    assert agree >= 38


@pytest.mark.parametrize("kind", ["clean", "light on dark", "gradient", "grey", "noise", "jpeg", "thick", "thin",
                                  "huge margin", "rgb", "rgba"])
def test_pages_of_every_kind(kind, digits):
    """A digit on a page of any kind frames close to the same digit on a clean page, and is classified right."""
    model = loaded("c8_mnist")
    images, labels = digits
    clean = [FRAME(page(images[i, 0], "clean")) for i in range(10)]
    framed = [FRAME(page(images[i, 0], kind, seed=i)) for i in range(10)]
    distances = [relative_distance(f, c) for f, c in zip(framed, clean)]
    limit = 0.6 if kind in ("thick", "thin") else 0.2  # another pen is another picture; the place and size stay
    assert np.median(distances) < limit, distances
    for f, c in zip(framed, clean):
        assert torch.allclose(centre_of_mass(f[0]), centre_of_mass(c[0]), atol=0.3)
    with torch.no_grad():
        right = (model(torch.stack(framed)).argmax(1) == labels[:10]).sum().item()
    assert right >= 9, right


@pytest.mark.parametrize("picture", [np.full((200, 300), 255, np.uint8), np.zeros((50, 50), np.float32),
                                     np.zeros((280, 280, 4), np.uint8),
                                     np.clip(np.random.default_rng(0).normal(0.8, 0.03, (300, 300)), 0, 1)])
def test_a_picture_without_a_digit_is_an_error(picture):
    with pytest.raises(NoDigitError, match="no digit"):
        FRAME(picture)


@pytest.mark.parametrize("picture, error, message", [
    (np.array(["a", "b"], dtype=object), TypeError, "expected a picture as an array"),
    (np.zeros((4, 4, 2)), TypeError, r"\(H, W\) or \(H, W, 1\|3\|4\)"),
    (np.full((5, 5), np.nan, np.float32), ValueError, "invalid values"),
    ([[0, 1]], TypeError, "expected a file path, a PIL image or a numpy array"),
    ("no/such/file.png", FileNotFoundError, "no/such/file.png"),
])
def test_what_is_not_a_picture(picture, error, message):
    with pytest.raises(error, match=message):
        FRAME(picture)


def test_pictures_are_bounded_before_they_are_decoded(tmp_path):
    from PIL import Image

    side = int(MAX_IMAGE_PIXELS ** 0.5) + 1
    path = tmp_path / "huge.png"
    Image.new("1", (side, side)).save(path)  # a few kB on disk, 25 megapixels decoded
    with pytest.raises(ValueError, match="at most 25,000,000"):
        FRAME(path)
    (tmp_path / "bomb.png").write_bytes(png_header(20_000, 10_000))  # above Pillow's own cap: refused on open
    with pytest.raises(ValueError, match="more than 25,000,000 pixels"):
        FRAME(tmp_path / "bomb.png")
    (tmp_path / "page.txt").write_text("not a picture")
    with pytest.raises(ValueError, match="is not a PNG"):
        FRAME(tmp_path / "page.txt")


def test_the_size_measure_is_invariant(digits):
    image = F.pad(digits[0][2:3], (10, 10, 10, 10))
    radii = [_centre_and_radius(rotate(image, a)[0, 0])[2] for a in (0.0, 30.0, 90.0, 135.0)]
    assert max(radii) - min(radii) < 0.02 * radii[0], radii


# ----------------------------------------------------------------------------------- clothing: fashion_mnist --

FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
needs_fashion = requires((FASHION / "t10k-images-idx3-ubyte.gz").is_file(), "Fashion-MNIST",
                         "apt-get install dataset-fashion-mnist")
ITEM = FashionFraming()


@pytest.fixture(scope="module")
def fashion():
    """Fashion-MNIST's first 40 test images (N, 28, 28) in [0, 1], read from the raw IDX file."""
    with gzip.open(FASHION / "t10k-images-idx3-ubyte.gz") as f:
        pixels = np.frombuffer(f.read(16 + 40 * 28 * 28), np.uint8, offset=16)
    return torch.tensor(pixels.reshape(40, 28, 28) / 255, dtype=torch.float32)


def product_photo(item: torch.Tensor, angle: float = 0.0, kind: str = "jpeg", paper: float = 0.92) -> np.ndarray:
    """A Fashion-MNIST image (28, 28) as a product photo: enlarged 8 times, turned by ``angle`` degrees, negated
    onto a light page with a margin, a little noise; saved as JPEG, or given as grey, RGB or RGBA pixels (RGBA:
    the page transparent)."""
    from PIL import Image

    big = F.interpolate(item[None, None], scale_factor=8, mode="bicubic", align_corners=False).clamp(0, 1)
    big = rotate(F.pad(big, (60, 60, 60, 60)), angle)[0, 0].numpy()
    page = np.pad(paper * (1 - big), ((30, 50), (70, 20)), constant_values=paper)
    page += np.random.default_rng(0).normal(0, 0.01, page.shape)
    grey = (np.clip(page, 0, 1) * 255).astype(np.uint8)
    if kind == "rgb":  # a tinted photo
        return (grey[..., None] * np.array([1.0, 0.95, 0.85])).astype(np.uint8)
    if kind == "rgba":
        alpha = np.pad(big > 0.02, ((30, 50), (70, 20)))
        return np.dstack([grey, grey, grey, alpha * np.uint8(255)])
    if kind == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(grey).save(buffer, format="JPEG", quality=90)
        return Image.open(buffer)
    return grey


def test_the_fashion_framing_is_registered_for_the_fashion_weights():
    cfg = PretrainedCfg(architecture="c8_mnist", tag="fashion", framing="fashion_mnist")
    assert FRAMINGS["fashion_mnist"] is FashionFraming
    assert create_transform(cfg) == FashionFraming() and create_transform(cfg, upright=True) == \
        FashionFraming(upright=True)
    coat = np.full((90, 60), 255, np.uint8)
    coat[10:80, 15:45] = 40  # a dark coat 70 pixels tall on white
    rgb = create_transform(PretrainedCfg(architecture="c8_mnist", framing="fashion_mnist", input_size=(3, 56, 56)))
    framed = rgb(coat)
    assert framed.shape == (3, 56, 56) and torch.equal(framed[0], framed[2]) and framed.max() == 1
    rows, cols = torch.nonzero(framed[0] > 0.5, as_tuple=True)  # Fashion-MNIST's framing: the longer side fills it
    assert rows.min() == 0 and rows.max() == 55 and abs((cols.min() + cols.max()).item() / 2 - 27.5) <= 0.5


@needs_fashion
def test_product_photos_are_framed_back_as_fashion_mnist_frames_them(fashion):
    """A test image made into a product photo and framed is close to the image itself: closer than the image is to
    itself moved by one pixel (the item turned light on black, its bounding box centred, its longer side 28)."""
    distances, shifted = [], []
    for item in fashion:
        framed = ITEM(product_photo(item))[0]
        distances.append(relative_distance(framed, item))
        shifted.append(relative_distance(torch.roll(item, 1, 0), item))
    assert np.median(distances) < 0.75 * np.median(shifted), (np.median(distances), np.median(shifted))
    assert max(distances) < 2 * np.median(shifted), max(distances)


@needs_fashion
@pytest.mark.parametrize("angle", [90.0, 37.0, 200.0])
def test_turning_the_photo_turns_the_framed_item(angle, fashion):
    """frame(turned photo) = turned frame(photo): the smallest rectangle around the item turns with it, where
    Fashion-MNIST's bounding box (``upright=True``) grows and moves."""
    boxed = FashionFraming(upright=True)
    invariant, upright = [], []
    for item in fashion[:20]:
        photo, turned = product_photo(item, kind="grey"), product_photo(item, angle, kind="grey")
        invariant.append(relative_distance(ITEM(turned)[None], rotate(ITEM(photo)[None], angle)))
        upright.append(relative_distance(boxed(turned)[None], rotate(boxed(photo)[None], angle)))
    assert np.median(invariant) < 0.15, np.median(invariant)
    if angle % 90:
        assert np.median(upright) > 2 * np.median(invariant), (np.median(upright), np.median(invariant))


@needs_fashion
@pytest.mark.parametrize("kind", ["rgb", "rgba"])
def test_colour_and_transparent_product_photos(kind, fashion):
    """An RGB photo frames as its grey levels; a cut-out on a transparent page as the item on a white page (up to
    the page's noise, which the transparent page lacks and the framing cuts: about 9% of the image)."""
    paper, limit = (1.0, 0.15) if kind == "rgba" else (0.92, 0.1)
    for item in fashion[:10]:
        reference = ITEM(product_photo(item, kind="grey", paper=paper))
        assert relative_distance(ITEM(product_photo(item, kind=kind, paper=paper)), reference) < limit


@pytest.mark.parametrize("picture", [np.full((200, 300), 255, np.uint8), np.zeros((50, 50), np.float32),
                                     np.zeros((280, 280, 4), np.uint8),
                                     np.clip(np.random.default_rng(0).normal(0.8, 0.03, (300, 300)), 0, 1)])
def test_a_picture_without_an_item_is_an_error(picture):
    with pytest.raises(NoObjectError, match="no item to frame"):
        ITEM(picture)


def test_item_pictures_are_bounded_before_they_are_decoded(tmp_path):
    from PIL import Image

    side = int(MAX_IMAGE_PIXELS ** 0.5) + 1
    Image.new("1", (side, side)).save(tmp_path / "huge.png")
    with pytest.raises(ValueError, match="at most 25,000,000"):
        ITEM(tmp_path / "huge.png")
    (tmp_path / "page.txt").write_text("not a picture")
    with pytest.raises(ValueError, match="is not a PNG"):
        ITEM(tmp_path / "page.txt")
