"""The zoo as users get it: a wheel built from this tree, installed into a fresh virtual environment and run from a
folder outside the checkout, downloading its weights from a loopback server that speaks the Hub's HTTP API
(``HF_ENDPOINT``; tests/hub_server.py), with huggingface_hub's real download code and nothing mocked.

The fresh environment has only the wheel's ``zoo``; its dependencies (torch, escnn, ...) are this environment's,
seen through a path file, so the test needs no download. Installing with ``--no-index`` and checking the wheel's
declared requirements against them keeps the dependency list honest.
"""
import base64
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest
import torch

from conftest import ROOT, require_module
from hub_server import serve_weights
from zoo.records import PROJECT, RECORDS, find_record

FOLDERS = sorted(p for p in (ROOT / "weights").iterdir() if (p / "config.json").is_file())
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """(python of a fresh environment with the wheel installed, a working folder outside the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # what `git archive` would give the build: the package, its metadata, the README
    shutil.copytree(ROOT / "zoo", source / "zoo", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp / "dist"), str(source)], check=True, capture_output=True)
    (wheel,) = (tmp / "dist").glob("equivariant_zoo-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "env")], check=True)
    python = tmp / "env" / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (tmp / "env" / purelib.split("/env/", 1)[1] / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"])
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--ignore-installed",
                    str(wheel)], check=True, capture_output=True, cwd=tmp)
    work = tmp / "work"
    work.mkdir()
    return python, work


@pytest.fixture(scope="module")
def hub():
    with serve_weights(FOLDERS, {r.name: r.revision for r in RECORDS}) as server:
        yield server


def run(venv, hub, args, hf_home, executable=None, **env):
    python, work = venv
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HF_", "GRADIO_"))}
    environ.update(HF_ENDPOINT=hub.url, HF_HOME=str(hf_home), HF_HUB_DISABLE_TELEMETRY="1",
                   GRADIO_ANALYTICS_ENABLED="False", **env)
    return subprocess.run([str(executable or python), *args], cwd=work, env=environ, capture_output=True, text=True, timeout=600)


def downloads(hub) -> dict[str, int]:
    return {f"{repo}/{name}": n for (repo, name), n in hub.sent.items()}


def size(folder: str, name: str) -> int:
    return (ROOT / "weights" / folder / name).stat().st_size


LOAD = """
import importlib.util, json, sys, torch, zoo
from zoo.probes import embedded_digits
from zoo.records import checkout_weights
x, y = embedded_digits()
escnn = zoo.create_model("c8_mnist", pretrained=True)
exported = zoo.create_model("c8_mnist", pretrained=True, export=True)
with torch.no_grad():
    a, b = escnn(x), exported(x)
print(json.dumps({"zoo": zoo.__file__, "checkout": str(checkout_weights()), "right": int((a.argmax(1) == y).sum()),
                  "dev_tools": importlib.util.find_spec("zoo.dev") is not None,
                  "agree": bool((a.argmax(1) == b.argmax(1)).all()), "diff": float((a - b).abs().max() / a.abs().max())}))
"""


def test_installed_wheel_downloads_just_its_checkpoint_then_loads_offline(venv, hub, tmp_path):
    python, work = venv
    requires = run(venv, hub, ["-c", "import importlib.metadata as m, json; print(json.dumps(m.requires('equivariant-zoo')))"],
                   tmp_path)
    from packaging.requirements import Requirement
    from importlib.metadata import version

    for line in json.loads(requires.stdout):
        requirement = Requirement(line)
        if requirement.marker is None:  # the extras' requirements carry a marker
            assert requirement.specifier.contains(version(requirement.name), prereleases=True), line

    hub.reset()
    first = run(venv, hub, ["-c", LOAD], tmp_path / "hf")
    assert first.returncode == 0, first.stderr[-3000:]
    result = json.loads(first.stdout.strip().splitlines()[-1])
    assert result["zoo"].startswith(str(python.parent.parent)) and result["checkout"] == "None"
    assert not result["dev_tools"]  # the documentation writers and the Selenium helper stay in the checkout
    assert result["right"] >= 9 and result["agree"] and result["diff"] < 1e-4
    expected = {f"{PROJECT}/c8_mnist/{name}": size("c8_mnist", name)
                for name in ("config.json", "model.safetensors", "exported.safetensors")}
    assert downloads(hub) == expected  # only this checkpoint, and only the files a load reads

    hub.reset()
    offline = run(venv, hub, ["-c", LOAD], tmp_path / "hf", HF_HUB_OFFLINE="1")
    assert offline.returncode == 0, offline.stderr[-3000:]
    assert json.loads(offline.stdout.strip().splitlines()[-1]) == result
    assert downloads(hub) == {} and not [p for _, p in hub.requests if "/resolve/" in p]


def test_installed_demo_refuses_every_fault_and_recovers(venv, hub, tmp_path):
    demo = ["demo", "trivial_mnist", "--angles", "0", "90", "--out", "demo.png"]  # the console script's command
    zoo = venv[0].parent / "zoo"
    weights = (f"{PROJECT}/trivial_mnist", "model.safetensors")
    hub.reset()
    empty = run(venv, hub, demo, executable=zoo, hf_home=tmp_path / "empty", HF_HUB_OFFLINE="1")
    assert empty.returncode != 0 and "downloads are off (HF_HUB_OFFLINE=1" in empty.stderr
    assert "Traceback" not in empty.stderr and not hub.requests

    hub.faults[weights] = "404"
    missing = run(venv, hub, demo, executable=zoo, hf_home=tmp_path / "hf")
    assert missing.returncode != 0 and "model.safetensors does not exist" in missing.stderr

    hub.faults[weights] = "corrupt"
    corrupt = run(venv, hub, demo, executable=zoo, hf_home=tmp_path / "hf")
    record = find_record("trivial_mnist")
    assert corrupt.returncode != 0 and "is corrupt" in corrupt.stderr, corrupt.stderr[-2000:]
    assert record.files["model.safetensors"] in corrupt.stderr and "rm -rf '" in corrupt.stderr

    hub.faults[weights] = "truncate"
    truncated = run(venv, hub, demo, executable=zoo, hf_home=tmp_path / "hf")
    assert truncated.returncode != 0 and "failed" in truncated.stderr and "try again" in truncated.stderr

    hub.faults.clear()  # the server is right again: the same command now works, from the same cache
    fixed = run(venv, hub, demo, executable=zoo, hf_home=tmp_path / "hf")
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert "trivial_mnist" in fixed.stdout and (venv[1] / "demo.png").stat().st_size > 1000


def test_installed_app_serves_the_api_on_gradios_variables(venv, hub, tmp_path, digits):
    require_module("gradio", "pip install -e '.[demo]'")
    from gradio_client import Client
    from PIL import Image

    from zoo import app
    from zoo.dev import browser

    python, work = venv
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HF_", "GRADIO_"))}
    environ.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"))
    hub.reset()
    with browser.serve(180, python, work, environ) as url:
        assert {name for name in downloads(hub) if name.endswith(".safetensors")} == \
            {f"{PROJECT}/{r.name}/exported.safetensors" for r in RECORDS if r.tag == "rotated"}
        # the first test 2 (the first 3 and 5 are hard: MNIST's half-pixel hint of which way is down, which the
        # invariant framing leaves out, decides them; docs/pictures.md)
        picture = (255 - digits[0][2, 0] * 255).to(torch.uint8).repeat_interleave(4, 0).repeat_interleave(4, 1)
        buffer = io.BytesIO()
        Image.fromarray(picture.numpy()).save(buffer, format="PNG")  # a dark 2 on white, 112x112
        sent = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        result = Client(url, verbose=False).predict(sent, 45, "rotated", api_name="/classify_image")
        expected = app.classify(app.decode_image(sent), None, 45)
        assert {n: r["class"] for n, r in result["predictions"].items()} == \
            {n: r["class"] for n, r in expected["predictions"].items()}
        assert sum(r["class"] == 2 for r in result["predictions"].values()) >= 5
        with pytest.raises(Exception, match="Cannot read the image"):
            Client(url, verbose=False).predict("not a picture", 0, "rotated", api_name="/classify_image")
