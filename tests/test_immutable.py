"""Published weights never move by accident: every command and experiment script that can reach weights/ leaves a
published folder byte for byte as it was, unless it is given the flag that says so (``--overwrite``).

The commands run on copies of published folders (tmp_path), and every file's sha256 is compared before and after."""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, published
from zoo.files import read_config, sha256_file

FOLDERS = ("c8_mnist", "so2_mnist-upright", "trivial_mnist-rotated-12k")


def hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` (new and leftover temporary files included) -> its sha256."""
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def copies(tmp_path) -> Path:
    """A weights/ folder of copies of a few published checkpoints."""
    weights = tmp_path / "weights"
    for name in FOLDERS:
        shutil.copytree(published(*name.split("-", 1)), weights / name)
    return weights


def folders(weights: Path) -> list[str]:
    return [str(weights / name) for name in FOLDERS]


@pytest.mark.parametrize("command", ["export", "verify", "upgrade"])
def test_commands_leave_published_folders_byte_for_byte(command, copies, capsys):
    import importlib

    before = hashes(copies)
    importlib.import_module(f"zoo.cli.{command}").main(folders(copies))
    assert hashes(copies) == before
    out = capsys.readouterr().out
    if command == "export":  # verified, and said so
        assert out.count("the export there is current, left as it is; self-check") == len(FOLDERS)
    if command == "upgrade":
        assert out.count("already format 3") == len(FOLDERS)


def test_publish_dry_run_leaves_published_folders_byte_for_byte(copies, monkeypatch, capsys):
    from zoo.cli import publish

    monkeypatch.setattr(publish, "checkout_weights", lambda: copies)
    monkeypatch.setattr(publish, "RECORDS", tuple(r for r in publish.RECORDS if r.name in FOLDERS))
    before = hashes(copies)
    checked = publish.main([])
    assert sorted(r.name for r in checked) == sorted(FOLDERS)
    assert hashes(copies) == before
    assert "dry run, nothing uploaded" in capsys.readouterr().out


def test_export_writes_a_new_export_only_with_overwrite(copies, tmp_path):
    from zoo.exported import load_exported

    folder = copies / "c8_mnist"
    (folder / "exported.safetensors").write_bytes(b"not the export")
    before = hashes(copies)
    refused = subprocess.run([sys.executable, "-m", "zoo.cli", "export", str(folder)], cwd=tmp_path,
                             capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert refused.returncode == 1 and refused.stderr.startswith(f"error: {folder}: its export cannot be used")
    assert "pass --overwrite to write a new one" in refused.stderr
    assert hashes(copies) == before

    (tmp_path / "c8.onnx").write_bytes(b"someone's file")
    from zoo.cli import export

    with pytest.raises(ValueError, match="c8.onnx exists; pass --overwrite"):
        export.main([str(copies / "so2_mnist-upright"), "--onnx", str(tmp_path / "c8.onnx")])
    assert hashes(copies) == before and (tmp_path / "c8.onnx").read_bytes() == b"someone's file"

    config = read_config(folder)
    export.main([str(folder), "--overwrite"])
    after = hashes(copies)
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed <= {"c8_mnist/exported.safetensors", "c8_mnist/config.json", "c8_mnist/README.md"}
    assert "c8_mnist/exported.safetensors" in changed  # the escnn weights stay; only the export is new
    new = read_config(folder)
    assert {k: v for k, v in new.items() if k != "export"} == {k: v for k, v in config.items() if k != "export"}
    assert new["export"]["sha256"] == sha256_file(folder / "exported.safetensors")
    load_exported(folder)  # passes its self-check against the logits recorded with the weights


def learning_curves():
    spec = importlib.util.spec_from_file_location("learning_curves", ROOT / "experiments" / "learning_curves.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_learning_curves_publish_replaces_another_run_only_with_overwrite(copies, tmp_path, monkeypatch, capsys):
    import zoo.registry

    curves = learning_curves()
    monkeypatch.setattr(zoo.registry, "weights_folder", lambda preset, tag: copies / f"{preset}-{tag}")
    target = copies / "trivial_mnist-rotated-12k"
    publish = ["publish", "--presets", "trivial_mnist", "--runs", str(tmp_path / "runs")]
    before = hashes(copies)
    curves.main(publish)  # the folder holds the chosen run (and the run folder is not even here)
    assert "holds trivial_mnist-n12000-e36-s0 already; left as it is" in capsys.readouterr().out
    curves.main(publish + ["--overwrite"])  # the same run: nothing to replace
    assert hashes(copies) == before

    run = tmp_path / "runs" / "trivial_mnist-n12000-e36-s0" / "out"
    shutil.copytree(target, run)  # the chosen run's checkpoint ...
    config = read_config(target)
    config["training"]["epochs"] = 20.0  # ... and the published folder holding another run
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    before = hashes(copies)
    with pytest.raises(SystemExit, match="holds another run than trivial_mnist-n12000-e36-s0; pass --overwrite"):
        curves.main(publish)
    assert hashes(copies) == before
    curves.main(publish + ["--overwrite"])
    assert read_config(target)["training"] == read_config(run)["training"]
    assert hashes(copies) != before


WRITES = re.compile(r"publish|--update|--overwrite|zoo export|weights/")  # what can change a published folder


def test_experiment_scripts_write_weights_only_with_overwrite(tmp_path):
    """A script that can write into weights/ stops before its first command unless run with --overwrite (run here
    from a copy outside the checkout, so that a script without the check fails harmlessly instead)."""
    writers = []
    for script in sorted((ROOT / "experiments").rglob("*.sh")):
        code = "\n".join(line for line in script.read_text().splitlines() if not line.lstrip().startswith("#"))
        if not WRITES.search(code):
            continue
        writers.append(script.name)
        copy = tmp_path / script.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(script, copy)
        if script.name == "pending.sh":  # it makes weights/ of the parents on a GPU machine; here there is one
            (tmp_path / "weights" / "c8_mnist").mkdir(parents=True)
            result = subprocess.run(["bash", str(copy), "launch"], cwd=tmp_path, capture_output=True, text=True,
                                    timeout=60)
            assert result.returncode == 2 and "where weights/ stayed behind" in result.stderr, result.stderr
            assert not any((tmp_path / "weights" / "c8_mnist").iterdir())
            continue
        result = subprocess.run(["bash", str(copy)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and "run it with --overwrite" in result.stderr, (script.name, result.stderr)
    # rotated.sh trains the superseded rounds 1 and 2 into runs/ only; gpu/runs.sh writes under /tmp
    assert writers == ["accuracy.sh", "curves_12k.sh", "pending.sh", "upright.sh"]
