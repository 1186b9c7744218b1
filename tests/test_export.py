"""Plain-PyTorch export: same logits, no escnn, TorchScript, torch.compile, ONNX."""
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, assert_close, built_model, loaded, published
from zoo import create_model, list_models
from zoo.convert import export


@pytest.mark.parametrize("name", list_models())
def test_pretrained_export_matches_escnn(name, digits):
    model = loaded(name)
    exported = create_model(name, pretrained=True, export=True)
    assert not exported.training
    x = torch.cat([digits[0], torch.rot90(digits[0], 1, (2, 3))])
    with torch.no_grad():
        assert_close(exported(x), model(x))
        assert_close(export(model)(x), exported(x))


@pytest.mark.parametrize("name", list_models())
def test_exported_load_and_predict_never_import_escnn(name, digits, tmp_path):
    published(name)
    torch.save(digits[0], tmp_path / "x.pt")
    code = f"""
import sys, json, torch
model = torch.hub.load({str(ROOT)!r}, {name!r}, source="local", trust_repo=True, export=True)
logits = model(torch.load({str(tmp_path / 'x.pt')!r}, weights_only=True))
print(json.dumps({{"escnn": sorted(m for m in sys.modules if m.split(".")[0] == "escnn"),
                  "pred": logits.argmax(1).tolist()}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["escnn"] == []
    assert result["pred"] == loaded(name)(digits[0]).argmax(1).tolist()


@pytest.mark.parametrize("name", list_models())
def test_torchscript(name, digits):
    exported = export(built_model(name))
    scripted = torch.jit.script(exported)
    with torch.no_grad():
        assert_close(scripted(digits[0]), exported(digits[0]))


def test_torch_compile(digits):
    exported = export(built_model("so2_mnist"))
    compiled = torch.compile(exported)
    with torch.no_grad():
        assert_close(compiled(digits[0]), exported(digits[0]))


def test_from_pretrained_export_never_imports_escnn(tmp_path):
    code = ("import sys, zoo; zoo.from_pretrained(sys.argv[1], export=True); "
            "print(sorted(m for m in ('escnn', 'zoo.checkpoint') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(published("c8_mnist"))], capture_output=True, text=True,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout.strip() == "[]"
