"""torch.hub and Hugging Face Hub entry points, exercised offline."""
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, assert_close, built_model, published
from zoo import from_pretrained, list_models, push_to_hub, save_pretrained
from zoo.model import EquivariantCNN
from zoo.files import CheckpointInfo


def test_hubconf_is_thin_and_lists_the_presets():
    # what torch.hub.list / torch.hub.help show for a GitHub repo, read from the local hubconf.py
    hubconf = torch.hub._import_module("hubconf", str(ROOT / "hubconf.py"))
    entries = [f for f in dir(hubconf) if callable(getattr(hubconf, f)) and not f.startswith("_")]
    assert sorted(entries) == list_models()
    assert hubconf.dependencies == ["torch", "safetensors"]  # escnn only for the escnn model, checked by zoo
    doc = hubconf.c8_mnist.__doc__
    assert "C8" in doc and "pretrained=True" in doc
    import inspect

    params = inspect.signature(hubconf.c8_mnist).parameters
    assert params["pretrained"].kind is inspect.Parameter.KEYWORD_ONLY and params["pretrained"].default is True
    assert params["num_classes"].default == 10


@pytest.mark.parametrize("name", list_models())
def test_torch_hub_load_pretrained(name, digits):
    published(name)
    model = torch.hub.load(str(ROOT), name, source="local", trust_repo=True)
    assert isinstance(model, EquivariantCNN) and not model.training
    with torch.no_grad():
        assert (model(digits[0]).argmax(1) == digits[1]).float().mean() >= 0.9


def test_torch_hub_load_untrained_with_classes():
    model = torch.hub.load(str(ROOT), "c4_mnist", source="local", trust_repo=True, pretrained=False,
                           num_classes=5)
    assert model.num_classes == 5


def test_pretrained_without_published_weights_raises():
    import zoo.registry

    assert "c8_wide_mnist" not in zoo.registry.published_models("upright")
    with pytest.raises(FileNotFoundError, match="no published 'upright' weights for c8_wide_mnist"):
        zoo.registry.create_model("c8_wide_mnist", pretrained=True, weights="upright")


def test_save_and_from_pretrained_local(tmp_path, digits):
    model = built_model("so2_mnist").eval()
    save_pretrained(model, tmp_path / "so2")
    assert {p.name for p in (tmp_path / "so2").iterdir()} >= {"model.safetensors", "config.json", "README.md"}
    loaded = from_pretrained(tmp_path / "so2")
    with torch.no_grad():
        assert_close(loaded(digits[0]), model(digits[0]))
    assert from_pretrained(tmp_path / "so2", num_classes=3).num_classes == 3


def _fake_hub_cache(cache, repo_id, folder):
    """Lay out ``folder`` as huggingface_hub's cache would after downloading ``repo_id``."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for f in folder.iterdir():
        (snapshot / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_from_pretrained_offline_from_hub_cache(tmp_path, digits):
    model = built_model("c8_mnist").eval()
    save_pretrained(model, tmp_path / "c8")
    _fake_hub_cache(tmp_path / "cache", "someone/c8_mnist", tmp_path / "c8")
    code = ("import torch, sys, zoo; "
            f"m = zoo.from_pretrained('someone/c8_mnist', cache_dir=r'{tmp_path / 'cache'}'); "
            "from safetensors.torch import save_file; "
            f"save_file({{'y': m(torch.load(r'{tmp_path / 'x.pt'}', weights_only=True))}}, r'{tmp_path / 'y.st'}')")
    torch.save(digits[0], tmp_path / "x.pt")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
    from safetensors.torch import load_file

    with torch.no_grad():
        assert_close(load_file(tmp_path / "y.st")["y"], model(digits[0]))


def test_push_to_hub_uploads_the_checkpoint_folder(monkeypatch):
    import huggingface_hub

    uploaded = {}

    def fake_create_repo(self, repo_id, **kwargs):
        return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

    def fake_upload_folder(self, *, repo_id, folder_path, **kwargs):
        uploaded.update(repo_id=repo_id, files=sorted(p.name for p in __import__("pathlib").Path(folder_path).iterdir()))
        return "https://huggingface.co/commit"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", fake_create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", fake_upload_folder)
    model = built_model("c4_mnist")
    model.meta = CheckpointInfo(preset="c4_mnist")
    push_to_hub(model, "someone/c4_mnist", token="hf_fake")
    assert uploaded["repo_id"] == "someone/c4_mnist"
    assert {"model.safetensors", "config.json", "README.md"} <= set(uploaded["files"])


@pytest.mark.parametrize("name", list_models())
def test_weights_tag_selects_the_upright_checkpoint(name):
    published(name, "upright")
    model = torch.hub.load(str(ROOT), name, source="local", trust_repo=True, weights="upright")
    assert model.meta.weights_tag == "upright"
    assert model.meta.training["augmentation"].startswith("none")
    default = torch.hub.load(str(ROOT), name, source="local", trust_repo=True)
    assert default.meta.weights_tag == "rotated"
