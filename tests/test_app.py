"""The Gradio demo: input handling, its API through gradio_client, and the page in a real (headless) Chromium."""
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import require_module, requires

require_module("gradio", "pip install -e '.[demo]'")
from zoo import app  # noqa: E402
from zoo.dev import browser  # noqa: E402


def _as_picture(digit: torch.Tensor, size=(196, 196), dark_on_light=True, channels=3) -> np.ndarray:
    """An MNIST digit as a person's picture: larger, off-centre, 8-bit, possibly dark on light."""
    big = torch.nn.functional.interpolate(digit, size=size, mode="nearest")[0, 0]
    canvas = torch.zeros(size[0] + 60, size[1] + 100)
    canvas[10:10 + size[0], 80:80 + size[1]] = big
    if dark_on_light:
        canvas = 1 - canvas
    image = (canvas.clamp(0, 1) * 255).to(torch.uint8).numpy()
    return image if channels == 1 else np.repeat(image[..., None], channels, axis=2)


@pytest.mark.parametrize("dark_on_light", [True, False])
def test_pictures_are_framed_as_mnist_digits(dark_on_light, digits):
    model = app.models()["so2_mnist"]
    for index in (0, 3, 7):
        framed = app.to_mnist(_as_picture(digits[0][index:index + 1], dark_on_light=dark_on_light))
        assert framed.shape == (1, 1, 28, 28) and framed.min() >= 0 and framed.max() <= 1
        ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
        mass = framed[0, 0].sum()
        # zoo.create_transform: the centre of mass at the frame's centre, which every rotation keeps in place
        assert abs((framed[0, 0] * ys).sum() / mass - 13.5) < 0.3 and abs((framed[0, 0] * xs).sum() / mass - 13.5) < 0.3
        with torch.no_grad():
            assert model(framed).argmax().item() == digits[1][index].item()


def test_sketch_on_a_transparent_canvas(digits):
    """Gradio's sketchpad gives RGBA: black strokes on transparent pixels."""
    grey = _as_picture(digits[0][2:3], dark_on_light=False, channels=1)
    rgba = np.zeros((*grey.shape, 4), dtype=np.uint8)
    rgba[..., 3] = grey  # the strokes are opaque black, the rest transparent
    framed = app.to_mnist(app.sketch_image({"composite": rgba, "background": None, "layers": []}))
    with torch.no_grad():
        assert app.models()["c4_mnist"](framed).argmax().item() == 2


@pytest.mark.parametrize("image, message", [
    (None, "No image"),
    (np.zeros((280, 280, 4), dtype=np.uint8), "empty"),
    (np.full((100, 80, 3), 255, dtype=np.uint8), "empty"),
    (np.array(["not", "an", "image"], dtype=object), "Cannot read"),
    (np.full((5, 5), np.nan, dtype=np.float32), "invalid values"),
])
def test_bad_pictures_get_a_message(image, message):
    with pytest.raises(app.InputError, match=message):
        app.to_mnist(image)


def test_classify_matches_the_models(digits):
    result = app.classify(None, "4", 30)
    image = app.rotate(digits[0][4:5], 30.0)
    with torch.no_grad():
        for name, model in app.models().items():
            p = model(image).softmax(1)[0]
            assert result["predictions"][name] == {"class": int(p.argmax()), "probability": round(float(p.max()), 4)}
    with pytest.raises(app.InputError, match="unknown example"):
        app.classify(None, "twelve", 0)
    with pytest.raises(app.InputError, match="unknown weights"):
        app.classify(None, "4", 0, weights="imagenet")
    with pytest.raises(app.InputError, match="unknown weights 'fashion'"):  # clothes weights in a digit app: no
        app.classify(None, "4", 0, weights="fashion")


def test_full_turn_is_one_batch_per_preset(monkeypatch, digits):
    calls = []
    for name, model in app.models().items():
        monkeypatch.setattr(model, "forward", lambda x, f=model.forward, n=name: calls.append((n, len(x))) or f(x))
    turn = app.full_turn(digits[0][5:6])
    assert sorted(calls) == sorted((name, 24) for name in app.models())
    assert all(p.shape == (24, 10) for p in turn.probabilities.values())


@pytest.fixture(scope="module")
def served():
    with browser.serve() as url:
        yield url


def _expected(example: str, angle: float, weights: str = "rotated") -> dict:
    digit, _ = app.example_digit(example)
    return {name: int(p.argmax()) for name, p in app.at_angle(digit, angle, weights).items()}


def test_api_through_gradio_client(served):
    from gradio_client import Client

    client = Client(served, verbose=False)
    result = client.predict("8", 135, "upright", api_name="/classify")
    assert result["label"] == 8 and result["weights"] == "upright"
    assert {n: r["class"] for n, r in result["predictions"].items()} == _expected("8", 135, "upright")
    with pytest.raises(Exception, match="unknown example"):
        client.predict("eleven", 0, "rotated", api_name="/classify")


@requires(browser.CHROMIUM and browser.CHROMEDRIVER, "Chromium and ChromeDriver",
          "apt-get install chromium chromium-driver")
def test_page_in_chromium(served, tmp_path):
    require_module("selenium", "pip install -e '.[test]'")
    from selenium.webdriver.common.by import By

    driver = browser.chromium()
    try:
        driver.get(served)
        first = browser.wait_for(driver, browser.shown_predictions)  # the default example, at 0 degrees
        assert first["angle"] == 0 and first["predictions"] and set(first["predictions"]) == set(app.models())
        browser.pick_example(driver, "7")
        browser.wait_for(driver, lambda d: {n: c for n, (c, _) in browser.shown_predictions(d)["predictions"].items()}
                         == _expected("7", 0))
        for angle in (90, 35, 200):
            browser.set_angle(driver, angle)
            shown = browser.shown_predictions(driver)
            assert {n: c for n, (c, _) in shown["predictions"].items()} == _expected("7", angle), angle
            digit, _ = app.example_digit("7")
            for name, p in app.at_angle(digit, angle).items():
                assert abs(shown["predictions"][name][1] - float(p.max())) < 1e-3
        # an empty sketch gets a message on the page; an uploaded picture (dark on light, 224x224 RGB) is framed
        driver.find_element(By.ID, "use-sketch").click()
        browser.wait_for(driver, lambda d: "No image" in d.find_element(By.ID, "message").text)
        from PIL import Image

        Image.fromarray(_as_picture(app.example_digit("2")[0], size=(168, 168))).save(tmp_path / "two.png")
        driver.find_element(By.CSS_SELECTOR, "#sketch input[type=file]").send_keys(str(tmp_path / "two.png"))
        time.sleep(1)
        driver.find_element(By.ID, "use-sketch").click()
        browser.wait_for(driver, lambda d: "Your drawing" in d.find_element(By.ID, "message").text)
        shown = browser.wait_for(driver, lambda d: browser.shown_predictions(d)["angle"] == 200
                                 and browser.shown_predictions(d))
        assert sum(c == 2 for c, _ in shown["predictions"].values()) >= 4  # the rotation-invariant presets at least
        # the 6/9 example, upside down: its own note on the page, and the models' answers
        browser.pick_example(driver, app.SIX_OR_NINE)
        browser.wait_for(driver, lambda d: "cannot tell the two apart" in d.find_element(By.ID, "message").text)
        browser.set_angle(driver, 180)
        shown = browser.shown_predictions(driver)
        assert {n: c for n, (c, _) in shown["predictions"].items()} == _expected(app.SIX_OR_NINE, 180)
        # the upright weights: the table follows (their plain CNN reads the upside-down 6 as a 9)
        next(e for e in driver.find_elements(By.CSS_SELECTOR, "#weights label") if e.text.strip() == "upright").click()
        upright = _expected(app.SIX_OR_NINE, 180, "upright")
        browser.wait_for(driver, lambda d: {n: c for n, (c, _) in browser.shown_predictions(d)["predictions"].items()}
                         == upright)
        screenshot = Path(os.environ.get("ZOO_APP_SCREENSHOT", tmp_path / "app.png"))
        driver.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 10_000
    finally:
        driver.quit()


def test_server_address_follows_flags_then_gradios_variables():
    from zoo.cli.app import server_address

    assert server_address(None, None, {}) == ("127.0.0.1", 7860)
    spaces = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7861"}
    assert server_address(None, None, spaces) == ("0.0.0.0", 7861)
    assert server_address("127.0.0.2", 8000, spaces) == ("127.0.0.2", 8000)
    with pytest.raises(ValueError, match="GRADIO_SERVER_PORT='http' is not a port number"):
        server_address(None, None, {"GRADIO_SERVER_PORT": "http"})


def test_a_sent_image_is_framed_as_the_page_frames_it(digits):
    import base64
    import io

    from PIL import Image

    picture = Image.fromarray(_as_picture(digits[0][7:8], size=(140, 140)))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    for text in (encoded, "data:image/png;base64," + encoded):
        assert app.classify(app.decode_image(text), None, 30) == app.classify(picture, None, 30)
    for bad in ("", "not base64!", base64.b64encode(b"not a picture").decode()):
        with pytest.raises(app.InputError, match="image"):
            app.decode_image(bad)


# The public API's limits: what a stranger may send to /classify_image.

def _encoded(data: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(data).decode()


def _saved(picture, format: str, **options) -> bytes:
    import io

    buffer = io.BytesIO()
    picture.save(buffer, format=format, **options)
    return buffer.getvalue()


def _png_bomb(width: int, height: int) -> bytes:
    """A blank 1-bit PNG, compressed row by row so that it is never held decoded: 30000x30000 is ~110 KB."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, row = zlib.compressobj(9), bytes(1 + (width + 7) // 8)  # each row: filter byte 0, then zeros
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def _animated_gif(digits, first: int, then: int, frames: int = 50) -> bytes:
    """A GIF whose first frame is digit ``first`` and whose other ``frames - 1`` frames are digit ``then``."""
    from PIL import Image

    one, other = (Image.fromarray(_as_picture(digits[0][i:i + 1], size=(84, 84), channels=1)) for i in (first, then))
    return _saved(one, "GIF", save_all=True, append_images=[other] * (frames - 1))


NOT_ACCEPTED = "not a PNG, JPEG, WEBP, BMP or GIF file"
TOO_MANY_PIXELS = "at most 25,000,000 pixels"


def _bad_images() -> list[tuple[str, object, str]]:
    """(what, the ``image`` sent, the message expected): each must be refused before it is decoded."""
    from PIL import Image

    small = Image.new("L", (32, 32), 255)
    return [
        ("not text", 12345, "expected base64 text"),
        ("empty", "", "No image"),
        ("an empty data URL", "data:image/png;base64,", "No image"),
        ("not base64", "not base64!", "not valid base64"),
        ("EPS", _encoded(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nshowpage\n"), NOT_ACCEPTED),
        ("TIFF", _encoded(_saved(small, "TIFF")), NOT_ACCEPTED),
        ("SVG", _encoded(b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"/>'), NOT_ACCEPTED),
        ("PDF", _encoded(_saved(small, "PDF")), NOT_ACCEPTED),
        ("a PNG bomb beyond Pillow's limit", _encoded(_png_bomb(30000, 30000)), TOO_MANY_PIXELS),
        ("a PNG bomb within Pillow's default limit", _encoded(_png_bomb(12000, 12000)), TOO_MANY_PIXELS),
        ("over the byte limit", "A" * (4 * app.MAX_IMAGE_BYTES // 3 + 8), "bytes; at most 8,388,608"),
        ("a truncated PNG", _encoded(_saved(Image.new("RGB", (300, 300), (255, 0, 0)), "PNG")[:150]), "truncated"),
    ]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow's own, for the 144 MP bomb
def test_decode_image_refuses_before_decoding(monkeypatch):
    from PIL import EpsImagePlugin

    def never(self):
        raise AssertionError("the EPS decoder ran (it calls Ghostscript)")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", never)
    for what, image, message in _bad_images():
        with pytest.raises(app.InputError, match=message):
            app.decode_image(image)


def test_decode_image_reads_the_first_frame_and_reduces_big_pictures(monkeypatch, digits):
    import io

    from PIL import Image, JpegImagePlugin

    picture = Image.fromarray(_as_picture(digits[0][5:6], size=(84, 84)))
    for format, options in (("PNG", {}), ("WEBP", {"lossless": True}), ("BMP", {})):  # every accepted format reads
        assert np.array_equal(np.asarray(app.decode_image(_encoded(_saved(picture, format, **options)))),
                              np.asarray(picture)), format
    animated = app.decode_image(_encoded(_animated_gif(digits, 7, 2)))
    first = Image.open(io.BytesIO(_animated_gif(digits, 7, 2, frames=1)))
    assert np.array_equal(np.asarray(animated.convert("L")), np.asarray(first.convert("L")))
    # a 24-megapixel photo: reduced to WORKING_SIZE pixels a side, a JPEG already as it is decoded
    photo = Image.new("L", (6000, 4000), 255)
    photo.paste(Image.fromarray(_as_picture(digits[0][3:4], size=(2000, 2000), channels=1)), (3000, 1000))
    drafted = []
    draft = JpegImagePlugin.JpegImageFile.draft
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft",
                        lambda self, *args: (draft(self, *args), drafted.append(self.size))[0])
    decoded = app.decode_image(_encoded(_saved(photo, "JPEG", quality=90)))
    assert drafted and set(drafted) == {(1500, 1000)}  # decoded at 1/4 size: the smallest that covers 1024x683
    assert decoded.size == (app.WORKING_SIZE, round(app.WORKING_SIZE * 4000 / 6000)) and decoded.mode == "L"
    reduced = np.asarray(photo.resize(decoded.size, Image.Resampling.BOX), dtype=np.float32)
    assert np.abs(np.asarray(decoded, dtype=np.float32) - reduced).mean() < 0.01 * 255  # the digit is still there
    # 16-bit grey keeps its high byte; a phone's EXIF orientation turns the picture upright
    deep = np.arange(64 * 32, dtype=np.uint16).reshape(32, 64) * 32
    assert np.array_equal(np.asarray(app.decode_image(_encoded(_saved(Image.fromarray(deep), "PNG")))), deep >> 8)
    exif = Image.new("L", (1, 1)).getexif()
    exif[0x0112] = 6  # stored turned: shown after a quarter turn clockwise
    marked = Image.new("L", (200, 100), 0)
    marked.paste(255, (0, 0, 20, 20))
    upright = app.decode_image(_encoded(_saved(marked, "JPEG", exif=exif.tobytes())))
    assert upright.size == (100, 200) and np.asarray(upright)[:20, -20:].mean() > 200  # the corner is top right


def test_build_app_bounds_its_queue_and_pillow(monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after the test
    built = app.build_app()
    # Gradio keeps the queue's settings on a private attribute: checked here, not by flooding the server
    assert (built._queue.max_size, built._queue.default_concurrency_limit) == (app.QUEUE_SIZE, app.CONCURRENCY)
    assert 2 * Image.MAX_IMAGE_PIXELS <= app.MAX_IMAGE_PIXELS  # Pillow refuses above twice its limit


def test_zoo_app_help_states_the_limits(capsys):
    from zoo.cli.app import main

    with pytest.raises(SystemExit):
        main(["--help"])
    assert f"at most {app.QUEUE_SIZE} requests wait" in capsys.readouterr().out.replace("\n", " ")


def _raw_call(url: str, api_name: str, body: str) -> str:
    """POST a JSON body to Gradio's HTTP API as any client could (NaN included) and return the streamed answer."""
    import json
    import urllib.request

    request = urllib.request.Request(f"{url}gradio_api/call/{api_name}", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    event = json.loads(urllib.request.urlopen(request, timeout=30).read())["event_id"]
    return urllib.request.urlopen(f"{url}gradio_api/call/{api_name}/{event}", timeout=60).read().decode()


def test_the_api_answers_every_bad_request_and_keeps_serving(served, digits):
    import urllib.error
    import urllib.request

    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(served, verbose=False)
    requests = [("/classify_image", (image, 0, "rotated"), message) for _, image, message in _bad_images()] + [
        ("/classify", ("7", 1e300, "rotated"), "angle: expected a number of degrees from -360 to 360, got 1e"),
        ("/classify_image", ("x", -361, "rotated"), "angle: expected a number of degrees"),
        ("/classify", ("7", "30", "rotated"), "angle: expected a number"),
        ("/classify", ("7", True, "rotated"), "angle: expected a number"),
        ("/classify", ("7", 0, "imagenet"), "unknown weights 'imagenet'"),
        ("/classify_image", ("x", 0, ["rotated"]), "weights: expected one of 'rotated'"),
        ("/classify", (7, 0, "rotated"), "unknown example 7"),
        ("/classify", ("", 0, "rotated"), "unknown example ''"),
    ]
    for api_name, arguments, message in requests * 2:  # twice over: it logs each refusal, and keeps answering
        with pytest.raises(AppError, match=message):
            client.predict(*arguments, api_name=api_name)
    for angle in ("NaN", "Infinity"):  # JSON extensions that Python's parser (and so Gradio's) accepts
        answer = _raw_call(served, "classify", f'{{"data": ["7", {angle}, "rotated"]}}')
        assert "event: error" in answer and "angle: expected a number" in answer, answer
    # an animation: its first frame only
    import io

    from PIL import Image

    result = client.predict(_encoded(_animated_gif(digits, 7, 2)), 0, "rotated", api_name="/classify_image")
    first = Image.open(io.BytesIO(_animated_gif(digits, 7, 2, frames=1))).convert("RGB")
    assert result == app.classify(first, None, 0)
    # uploads (the sketchpad's) are held to the same byte limit by Gradio's max_file_size
    body = (b'--B\r\nContent-Disposition: form-data; name="files"; filename="big.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + bytes(app.MAX_IMAGE_BYTES + 1) + b"\r\n--B--\r\n")
    upload = urllib.request.Request(f"{served}gradio_api/upload", data=body,
                                    headers={"Content-Type": "multipart/form-data; boundary=B"})
    with pytest.raises(urllib.error.HTTPError, match="413"):
        urllib.request.urlopen(upload, timeout=60)
    # and the server still answers a good request, as the library would
    picture = _as_picture(digits[0][4:5], size=(140, 140))
    sent = _encoded(_saved(Image.fromarray(picture), "PNG"))
    result = client.predict(sent, 45, "rotated", api_name="/classify_image")
    assert result == app.classify(app.decode_image(sent), None, 45)
