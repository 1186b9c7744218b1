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


ARCHIVE_LOAD = """
import json, sys, torch
from safetensors.torch import save_file
model = torch.hub.load(sys.argv[1], "c8_mnist", source="local")  # imports zoo from the archive's folder
import zoo
from zoo.probes import embedded_digits
from zoo.records import checkout_weights
with torch.no_grad():
    save_file({"logits": model(embedded_digits()[0])}, sys.argv[2])
print(json.dumps({"zoo": zoo.__file__, "checkout": str(checkout_weights())}))
"""


def archived_record(extracted, preset: str):
    """``preset``'s rotated weights record as the extracted archive's zoo/records.py holds it (a leaf module, loaded
    by itself so that this process keeps the checkout's zoo)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("archived_records", extracted / "zoo" / "records.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module.find_record(preset)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """``git archive HEAD`` of the checkout, extracted outside it, as torch.hub's download of the repository holds
    it (with the working tree's .gitattributes, which HEAD holds too once committed)."""
    import io
    import tarfile

    try:
        data = subprocess.run(["git", "archive", "--worktree-attributes", "HEAD"], cwd=ROOT, capture_output=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"not a git checkout with git available ({e})")
    assert len(data) < 20 * 2**20  # code, configs and cards: not 100 MB of weights
    extracted = tmp_path_factory.mktemp("archive") / "equivariant-zoo"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        tar.extractall(extracted, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    assert "hubconf.py" in names and "weights/c8_mnist/config.json" in names
    assert not [n for n in names if n.startswith("weights/") and n.endswith(".safetensors")]
    return extracted


def test_torch_hub_archive_holds_code_and_downloads_the_weights_by_their_record(archive, tmp_path, digits):
    """torch.hub.load("equivariant-zoo/equivariant-zoo", ...) reads GitHub's archive of the repository, which
    .gitattributes keeps free of the published tensors: the archive's weights/ folders hold config.json and the
    card only, and a load from it downloads the two files it reads, once each, at the record's pinned revision,
    trusting nothing of the archive's weights/ (its config.json is garbage here)."""
    import json
    import shutil

    from hub_server import serve_weights
    from safetensors.torch import load_file

    from zoo.files import sha256_file

    folder = published("c8_mnist")
    extracted = tmp_path / "equivariant-zoo"
    shutil.copytree(archive, extracted)
    (extracted / "weights" / "c8_mnist" / "config.json").write_text("{}")  # an archive's weights are not trusted

    record = archived_record(extracted, "c8_mnist")  # HEAD's record (the checkout's may be newer, uncommitted)
    assert record.files["model.safetensors"] == sha256_file(folder / "model.safetensors")
    work = tmp_path / "work"
    work.mkdir()
    with serve_weights([folder], {record.name: record.revision}) as hub:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HF_"))}
        env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf-home"), HF_HUB_CACHE=str(tmp_path / "hub-cache"),
                   HF_HUB_DISABLE_TELEMETRY="1")
        result = subprocess.run([sys.executable, "-c", ARCHIVE_LOAD, str(extracted), str(tmp_path / "logits.st")],
                                cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        gets = [path.split("?")[0] for method, path in hub.requests if method == "GET" and "/resolve/" in path]
        sent = dict(hub.sent)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["zoo"] == str(extracted / "zoo" / "__init__.py")  # the archive's code, not this checkout's
    assert loaded["checkout"] == str(extracted / "weights")  # it looks like a checkout, yet its weights are missing
    assert sent == {(record.hub_id, name): (folder / name).stat().st_size
                    for name in ("config.json", "model.safetensors")}
    assert sorted(gets) == sorted(f"/{record.hub_id}/resolve/{record.revision}/{name}"
                                  for name in ("config.json", "model.safetensors"))
    expected = torch.hub.load(str(ROOT), "c8_mnist", source="local")
    with torch.no_grad():
        assert_close(load_file(tmp_path / "logits.st")["logits"], expected(digits[0]))


def test_publish_refuses_an_archive_of_the_repository(archive, monkeypatch, tmp_path):
    """An archive looks like a checkout (hubconf.py, weights/) but holds no tensors: records written from it, or an
    upload of it, would publish folders without weights."""
    from zoo.cli import publish

    def refused():
        return pytest.raises(FileNotFoundError, match="lacks model.safetensors, exported.safetensors: publishing "
                             "needs a git clone")

    monkeypatch.setattr(publish, "checkout_weights", lambda: archive / "weights")
    for argv in ([], ["--upload"]):
        with refused():
            publish.main(argv)
    records = tmp_path / "records.py"  # --write-records' own file stays out of reach
    records.write_text(publish.RECORDS_FILE.read_text())
    with refused():
        publish.write_records(archive / "weights", records)
    assert records.read_text() == publish.RECORDS_FILE.read_text()
