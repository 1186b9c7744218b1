"""The Gradio demo: input handling, its API through gradio_client, and the page in a real (headless) Chromium."""
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("gradio")
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
        assert framed[0, 0, :2].abs().max() == 0 and framed[0, 0, :, :2].abs().max() == 0  # black border
        ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
        mass = framed[0, 0].sum()
        assert abs((framed[0, 0] * ys).sum() / mass - 14) < 1 and abs((framed[0, 0] * xs).sum() / mass - 14) < 1
        # MNIST's own framing (20-pixel box, centre of mass at the centre) recovers the digit itself
        assert (framed - digits[0][index:index + 1]).abs().max() < 0.1
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


@pytest.mark.skipif(browser.CHROMIUM is None or browser.CHROMEDRIVER is None,
                    reason="no Chromium/ChromeDriver (apt-get install chromium chromium-driver)")
def test_page_in_chromium(served, tmp_path):
    pytest.importorskip("selenium")
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
