"""The commands, run as a user runs them (new processes), and the helpers they share."""
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, assert_close, built_model, published, require_module
from zoo.files import CheckpointInfo


def run(*args, check=True, **environ):
    """``zoo <args>`` in a new process (``environ``: extra environment variables)."""
    env = {**{k: v for k, v in os.environ.items() if k != "ZOO_DEBUG"}, "PYTHONPATH": str(ROOT), **environ}
    result = subprocess.run([sys.executable, "-m", "zoo.cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                            env=env, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture()
def saved(tmp_path):
    from zoo.checkpoint import save_checkpoint

    model = built_model("c8_mnist").eval()
    model.meta = CheckpointInfo(preset="c8_mnist")
    save_checkpoint(model, tmp_path / "c8")
    return tmp_path / "c8", model


def test_export_command_writes_the_export_and_onnx(saved, digits):
    ort = require_module("onnxruntime", "pip install -e '.[onnx]'")
    require_module("onnxscript", "pip install -e '.[onnx]'")
    from zoo.exported import load_exported

    folder, model = saved
    (folder / "exported.safetensors").unlink()
    result = run("export", folder, "--onnx", folder / "c8.onnx", "--overwrite")
    assert f"{folder}: wrote a new export" in result.stdout
    with torch.no_grad():
        expected = model(digits[0])
        assert_close(load_exported(folder)(digits[0]), expected)
    session = ort.InferenceSession(str(folder / "c8.onnx"), providers=["CPUExecutionProvider"])
    for batch in (digits[0], digits[0][:3]):  # a dynamic batch dimension
        (logits,) = session.run(None, {"images": batch.numpy()})
        assert_close(torch.from_numpy(logits), model(batch).detach())


def test_export_command_errors_in_one_line(tmp_path):
    result = run("export", tmp_path / "nowhere", check=False)
    error, hint = result.stderr.splitlines()
    assert result.returncode == 1 and error.startswith("error: no config.json")
    assert hint == "(zoo --debug export ... prints the traceback)"
    result = run("export", tmp_path, "other", "--onnx", "x.onnx", check=False)
    assert result.returncode == 1 and "--onnx takes exactly one checkpoint folder" in result.stderr

    debug = run("--debug", "export", tmp_path / "nowhere", check=False)
    assert debug.returncode == 1 and debug.stderr.startswith("Traceback (most recent call last):")
    assert debug.stderr.splitlines()[-1] == "FileNotFoundError: " + error.removeprefix("error: ")


def test_user_errors_end_in_one_line_unless_debugging(monkeypatch, capsys):
    from zoo.cli import main
    from zoo.cli.common import run

    def mistake():
        raise FileNotFoundError("no such folder")

    monkeypatch.delenv("ZOO_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit:
        run(mistake, command="verify")
    assert exit.value.code == "error: no such folder\n(zoo --debug verify ... prints the traceback)"
    with pytest.raises(SystemExit, match="ZOO_DEBUG=1 prints the traceback"):  # python -m zoo.cli.verify
        run(mistake)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        run(mistake, debug=True)
    monkeypatch.setenv("ZOO_DEBUG", "1")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        run(mistake)
    monkeypatch.setenv("ZOO_DEBUG", "0")
    with pytest.raises(SystemExit):
        run(mistake)
    with pytest.raises(ZeroDivisionError):  # a bug, not a user's mistake: always its traceback
        run(lambda: 1 / 0)
    main(["--help"])
    assert "--debug" in capsys.readouterr().out


class ReachedTheRun(Exception):
    """Raised where a command starts its work: its command line passed every check."""


def _reached(*args, **kwargs):
    raise ReachedTheRun


FULL_RUNS = [  # command, argv, where its work starts, what --update says (None: nothing, the run is a full one)
    ("evaluate", ["--update"], "apply_threads", None),
    ("evaluate", ["c4_mnist", "--update", "--results", ROOT / "results"], "apply_threads", None),
    ("evaluate", ["c4_mnist", "--update", "--results", "{tmp}"], "apply_threads",
     ["c8_mnist, c8_wide_mnist, d4_mnist, so2_mnist, trivial_mnist neither evaluated now nor saved in"]),
    ("evaluate", ["--limit", "100", "--no-profile", "--update"], "apply_threads",
     ["--limit 100 evaluates part of the test set", "--no-profile leaves out the accuracy at each angle"]),
    ("bench", ["--threads", "2", "--rounds", "10", "--update"], "apply_threads", None),
    ("bench", ["c4_mnist", "--no-compile", "--update"], "apply_threads",
     ["c8_mnist, c8_wide_mnist, d4_mnist, so2_mnist, trivial_mnist left out",
      "--rounds 5: the published table takes at least 10", "--no-compile leaves out the compiled model"]),
    ("invariance", ["--update"], "data.load_mnist", None),
    ("invariance", ["--per-layer", "--weights", "upright", "--update"], "data.load_mnist", None),
    ("invariance", ["--images", "100", "--weights", "upright", "--update"], "data.load_mnist",
     ["--images 100: the published tables take the first 500", "--weights upright: the logits table is the rotated"]),
    ("invariance", ["--per-layer", "--angles", "45", "--update"], "data.load_mnist",
     ["--angles: the published tables take 22.5 45.0 90.0"]),
    ("verify", ["{weights}", "--update"], "read_config", None),
    ("verify", [ROOT / "weights" / "c4_mnist", "{tmp}", "--update"], "read_config",
     ["c4_mnist-upright", "not under weights/:"]),
]


@pytest.mark.parametrize("command, argv, start, refusal", FULL_RUNS)
def test_update_refuses_a_partial_run(command, argv, start, refusal, monkeypatch, capsys, tmp_path):
    """--update writes published tables and records: it takes the run that made them, and refuses a partial one
    (a subset of the presets, of the images, of the timing rounds) before any work, saying what the full run is."""
    import importlib

    module = importlib.import_module(f"zoo.cli.{command}")
    owner, name = (module.data, "load_mnist") if start == "data.load_mnist" else (module, start)
    monkeypatch.setattr(owner, name, _reached)
    weights = [str(config.parent) for config in sorted((ROOT / "weights").glob("*/config.json"))]
    argv = [a for arg in argv for a in (weights if arg == "{weights}" else [str(arg).replace("{tmp}", str(tmp_path))])]
    if refusal is None:
        with pytest.raises(ReachedTheRun):
            module.main(argv)
        return
    with pytest.raises(SystemExit) as exit:
        module.main(argv)
    message = capsys.readouterr().err
    assert exit.value.code == 2 and "--update publishes the full run only, and this one is partial: " in message
    assert all(reason in message for reason in refusal), message
    assert f"The full run: zoo {command} " in message
    with pytest.raises(ReachedTheRun):  # the same run without --update is not refused
        module.main([a for a in argv if a != "--update"])


def test_demo_command(tmp_path):
    published("c4_mnist")
    result = run("demo", "c4_mnist", "trivial_mnist", "--angles", "0", "90", "--out", tmp_path / "demo.png")
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["model", "0°", "90°"]
    c4 = next(line for line in lines if line.startswith("c4_mnist")).split()
    assert c4[1] == c4[2] and c4[-1].endswith("/20")  # C4: the same digits right at 0 and 90 degrees
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert run("demo", "c16_mnist", check=False).returncode == 2


@pytest.mark.slow
def test_evaluate_command_on_a_few_images(mnist_root, tmp_path):
    published("c4_mnist")
    before = (ROOT / "weights" / "c4_mnist" / "config.json").read_text()
    result = run("evaluate", "c4_mnist", "--data-root", mnist_root, "--limit", "100", "--results",
                 tmp_path / "results")
    row = next(line for line in result.stdout.splitlines() if line.startswith("| c4_mnist"))
    assert row.count("%") == 4
    assert not (tmp_path / "results").exists()  # a quick check writes nothing
    assert (ROOT / "weights" / "c4_mnist" / "config.json").read_text() == before
    refused = run("evaluate", "c4_mnist", "--data-root", mnist_root, "--limit", "100", "--update", check=False)
    assert refused.returncode == 2 and "--limit 100 evaluates part of the test set" in refused.stderr


def test_upright_table_gives_the_gap_to_the_rotated_trained_weights(tmp_path):
    import json

    from zoo.cli.evaluate import tag_table

    def result(rotated):
        return {"num_params": 1, "mflops": 1.0, "test_upright_accuracy": 0.99, "test_rotated_accuracy": rotated,
                "profile_min_accuracy": 0.5, "profile_max_accuracy": 0.99, "epochs": 10, "train_min": 1.0}

    for tag, accs in {"rotated": {"c4_mnist": 0.9914}, "upright": {"c4_mnist": 0.9069, "c8_mnist": 0.9588}}.items():
        (tmp_path / tag).mkdir()
        for name, acc in accs.items():
            (tmp_path / tag / f"{name}.json").write_text(json.dumps(result(acc)))
    rows = tag_table(tmp_path, "upright").splitlines()
    assert "gap to rotated-trained" in rows[0] and "gap" not in tag_table(tmp_path, "rotated")
    c4 = [c.strip() for c in rows[2].split("|")]
    c8 = [c.strip() for c in rows[3].split("|")]
    assert c4[1] == "c4_mnist" and c4[8] == "8.45"  # 99.14 - 90.69 points
    assert c8[1] == "c8_mnist" and c8[8] == "?"  # no rotated-trained result to compare with


def test_readme_blocks(tmp_path):
    from zoo.dev.docs import replace_between_markers, update_readme

    text = "intro\n<!-- BEGIN t -->\nold\n<!-- END t -->\nrest\n"
    assert replace_between_markers(text, "t", "new\nlines") == "intro\n<!-- BEGIN t -->\nnew\nlines\n<!-- END t -->\nrest\n"
    readme = tmp_path / "README.md"
    readme.write_text(text)
    update_readme("t", "x", path=readme)
    assert "<!-- BEGIN t -->\nx\n<!-- END t -->" in readme.read_text()
    with pytest.raises(ValueError, match="no <!-- BEGIN missing -->"):
        update_readme("missing", "x", path=readme)


def test_every_block_the_commands_write_is_in_one_document():
    from zoo.dev.docs import README, document_with

    for key in ("results-rotated", "results-upright", "bench", "invariance", "fashion-rotated", "fashion-lead",
                "fashion-recipe", "invariance-layers-upright",
                "invariance-layers-rotated", "verify", "recipes", "download-bytes", "results-rotated-12k", "curves",
                "results-fashion",
                "bench-gpu",
                "curves-runs"):
        text = document_with(key).read_text()
        assert f"<!-- END {key} -->" in text, key
    assert document_with("results-rotated") == README
    assert len(README.read_text().splitlines()) <= 250


def test_load_exported_errors(saved):
    import json

    from zoo.exported import load_exported

    folder, _ = saved
    config = json.loads((folder / "config.json").read_text())
    config["export"]["layers"][0][2] += 1  # a spec that does not fit the tensors
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not match the layer spec"):
        load_exported(folder)
    config["export"]["layers"][0][0] = "fft"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="unknown layer kind 'fft'"):
        load_exported(folder)
    with pytest.raises(ValueError, match="cannot change its architecture"):
        load_exported(folder, in_channels=3)
    (folder / "exported.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_exported(folder)
    (folder / "exported.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="zoo export"):
        load_exported(folder)


def test_exported_model_refuses_another_class_count(saved):
    from zoo.exported import load_exported

    folder, _ = saved
    with pytest.raises(ValueError, match="load the escnn model"):
        load_exported(folder, num_classes=3)


def test_per_layer_invariance_is_float_rounding_at_the_groups_angles(digits):
    """Every block of C4, C8, D4-then-C4 and SO(2) is invariant to 90 degrees (exact on the pixel grid; other angles
    resample the image); the plain CNN's is not."""
    from zoo.invariance import per_layer

    images = digits[0][:6]
    for name, exact in (("c4_mnist", [90]), ("c8_mnist", [90]), ("d4_mnist", [90]), ("so2_mnist", [90])):
        result = per_layer(built_model(name), images, exact + [22.5])
        for angle in exact:
            assert len(result[angle]) == 6 and max(result[angle]) < 1e-4, (name, angle, result[angle])
        assert max(result[22.5]) > 1e-3  # bilinear resampling: not exact off the group
    plain = per_layer(built_model("trivial_mnist"), images, [90])[90]
    assert max(plain) > 1e-2


def test_verify_reports_the_margins_and_fails_on_a_checkpoint_that_drifted(tmp_path):
    import json
    import shutil

    folder = published("trivial_mnist")
    ok = run("verify", folder)
    row = next(line for line in ok.stdout.splitlines() if line.startswith("| trivial_mnist"))
    escnn, export, tolerance = (float(c) for c in row.split("|")[2:5])
    assert max(escnn, export) < tolerance / 100  # far inside: the same logits, up to float rounding
    drifted = tmp_path / "drifted"
    shutil.copytree(folder, drifted)
    config = json.loads((drifted / "config.json").read_text())
    config["self_check"]["logits"][0][0] += 10 * tolerance
    (drifted / "config.json").write_text(json.dumps(config))
    failed = run("verify", drifted, check=False)
    assert failed.returncode == 1 and f"{drifted}: the loaded model does not reproduce" in failed.stderr


def test_recipe_table_shows_every_recorded_run():
    """experiments/recipes.py renders the validation accuracies that the runs recorded, row for row."""
    import json

    out = subprocess.run([sys.executable, str(ROOT / "experiments" / "recipes.py")], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True).stdout
    records = sorted((ROOT / "experiments" / "records").glob("*.json"))
    rows = [line for line in out.splitlines() if line.startswith("| ") and "%" in line]
    assert records and len(rows) == len(records)
    for path in records:
        record = json.loads(path.read_text())
        assert any(f"{100 * record['metrics']['val_accuracy']:.2f}%" in r and r.startswith(f"| {record['preset']} ")
                   for r in rows), path.name


@pytest.mark.parametrize("preset, name", [("c4_mnist", "c4-ls-ema-28ep"), ("so2_mnist", "so2-ls-ema-13ep")])
def test_recipe_record_of_a_published_run_is_written_from_its_checkpoint(preset, name, tmp_path):
    """experiments/recipes.py --record rebuilds the committed record of a published run from its checkpoint folder."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("recipes", ROOT / "experiments" / "recipes.py")
    recipes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipes)
    written = recipes.record(ROOT / "weights" / preset, name, into=tmp_path)
    assert written == tmp_path / f"{name}.json"
    assert written.read_text() == (ROOT / "experiments" / "records" / f"{name}.json").read_text()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        recipes.record(tmp_path, "missing", into=tmp_path)
    assert not (tmp_path / "missing.json").exists()


def test_evaluate_update_refuses_results_saved_for_other_weights(tmp_path, capsys):
    """--update fills the table from saved results only where they were measured on the weights published now: a
    result saved before the weights were replaced (another weights_sha256, or none) counts as not measured."""
    import json

    from zoo.cli import evaluate
    from zoo.registry import published_models

    presets = published_models("rotated")
    (tmp_path / "rotated").mkdir()
    for name in presets:
        (tmp_path / "rotated" / f"{name}.json").write_text(json.dumps(
            {"weights_sha256": evaluate.published_sha256(name, "rotated"), "test_rotated_accuracy": 0.9}))
    assert set(evaluate.current_results(tmp_path, "rotated")) == set(presets)
    stale, unrecorded = presets[0], presets[1]
    (tmp_path / "rotated" / f"{stale}.json").write_text(json.dumps({"weights_sha256": "0" * 64}))
    (tmp_path / "rotated" / f"{unrecorded}.json").write_text(json.dumps({"test_rotated_accuracy": 0.9}))
    assert set(evaluate.current_results(tmp_path, "rotated")) == set(presets) - {stale, unrecorded}
    assert set(evaluate.saved_results(tmp_path, "rotated")) == set(presets)  # saved, but not current

    with pytest.raises(SystemExit) as refused:
        evaluate.parse_args([presets[2], "--results", str(tmp_path), "--update"])
    assert refused.value.code == 2
    message = capsys.readouterr().err
    assert f"{min(stale, unrecorded)}, {max(stale, unrecorded)} neither evaluated now nor saved" in message
    assert "for the published weights" in message
