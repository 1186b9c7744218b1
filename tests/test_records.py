"""Weights records (zoo/records.py) against the checkout's weights/ folders, the model cards' Hub metadata, the
project's one name, and the maintainer's publish command (its dry run)."""
import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from zoo.cli import publish
from zoo.card import HUB_DATASETS, model_card
from zoo.files import read_config
from zoo.records import (GITHUB_REPO, PROJECT, RECORDS, WEIGHT_TAGS, checkout_weights, find_record, folder_name,
                         record_for_hub_id, record_from_folder, render_records, revision_for, tag_dataset)
from zoo.registry import PRESETS, published_models

FOLDERS = sorted(p for p in (ROOT / "weights").iterdir() if (p / "config.json").is_file())
REGENERATE = "regenerate them with: .venv/bin/zoo publish --write-records"


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_record_agrees_with_its_folder(folder):
    config = read_config(folder)
    record = find_record(config["preset"], config.get("weights_tag", "rotated"))
    assert record is not None, f"{folder.name} has no record; {REGENERATE}"
    assert record == record_from_folder(folder), f"the record of {folder.name} is stale; {REGENERATE}"
    assert record.name == folder.name and record.hub_id == f"{PROJECT}/{folder.name}"
    assert record.files["model.safetensors"] == config["weights_sha256"]
    assert record.files["exported.safetensors"] == config["export"]["sha256"]
    assert record.metrics == {k: config["metrics"][k] for k in record.metrics} and len(record.metrics) == 3
    assert record.num_params == config["num_params"] and record.input["channels"] == config["input"]["channels"]
    assert record.revision == revision_for(record.files)


def test_every_record_has_a_folder_and_a_preset():
    assert sorted(r.name for r in RECORDS) == [f.name for f in FOLDERS]
    assert all(r.preset in PRESETS and r.tag in WEIGHT_TAGS for r in RECORDS)
    assert len({r.hub_id for r in RECORDS}) == len(RECORDS)
    assert record_for_hub_id(f"{PROJECT}/c8_mnist-upright") == find_record("c8_mnist", "upright")
    assert published_models("rotated") == sorted(PRESETS)
    assert "c8_wide_mnist" not in published_models("upright")


def test_records_render_to_the_code_that_holds_them():
    namespace = {}
    exec("from zoo.records import WeightsRecord\n" + render_records(list(RECORDS)), namespace)
    assert namespace["RECORDS"] == RECORDS
    assert render_records(list(RECORDS)) in (ROOT / "zoo" / "records.py").read_text()


def test_revision_changes_with_any_file():
    files = dict(find_record("c8_mnist").files)
    before = revision_for(files)
    files["README.md"] = "0" * 64
    assert revision_for(files) != before and revision_for(files).startswith("w-")


def test_checkout_is_found_from_the_checkout():
    assert checkout_weights() == ROOT / "weights"


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_model_card_carries_hub_metadata(folder):
    from huggingface_hub import ModelCard, metadata_load

    config = read_config(folder)
    dataset = HUB_DATASETS[tag_dataset(config["weights_tag"])]  # ylecun/mnist, or the data a tag is fine-tuned on
    card = ModelCard.load(folder / "README.md")
    assert metadata_load(folder / "README.md") == card.data.to_dict()
    assert card.data.pipeline_tag == "image-classification" and card.data.library_name == PROJECT
    assert card.data.license == "mit" and card.data.datasets == [dataset]
    assert ("rotated-mnist" in card.data.tags) == (dataset == "ylecun/mnist")
    results = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert results == {"rotated test accuracy": round(100 * config["metrics"]["test_rotated_accuracy"], 2),
                       "upright test accuracy": round(100 * config["metrics"]["test_upright_accuracy"], 2)}
    assert all(r.dataset_split == "test" and r.task_type == "image-classification" and r.dataset_type == dataset
               for r in card.data.eval_results)
    assert card.data.model_name == folder.name
    assert card.data.base_model == (config.get("parent") or {}).get("hub_id")  # None: trained from scratch
    assert f'torch.hub.load("{GITHUB_REPO}", "{config["preset"]}"' in card.text
    assert "transform = zoo.create_transform(model)" in card.text and "model(x).softmax(1)" in card.text
    assert "(B, 1, 28, 28)" in card.text


def fine_tuned_config(dataset="FashionMNIST", mode="finetune", channels=1) -> dict:
    """What zoo finetune writes for c8_mnist's weights fine-tuned on ``dataset`` (config.json as a dict)."""
    config = read_config(ROOT / "weights" / "c8_mnist")
    config.update(weights_tag=f"{dataset}-{mode}", mode=mode,
                  metrics={"test_rotated_accuracy": 0.7, "test_upright_accuracy": 0.71, "val_accuracy": 0.8},
                  parent=None if mode == "scratch" else {
                      "hub_id": f"{PROJECT}/c8_mnist", "revision": find_record("c8_mnist").revision,
                      "folder": "c8_mnist", "weights_sha256": config["weights_sha256"]},
                  input={**config["input"], "channels": channels, "normalization": "none: ToTensor() of the image"},
                  training={**config["training"], "dataset": dataset})
    return config


def test_fine_tuned_card_names_its_base_model_and_its_data(tmp_path):
    from huggingface_hub import ModelCard, metadata_load

    (tmp_path / "README.md").write_text(model_card(fine_tuned_config()))
    card = ModelCard.load(tmp_path / "README.md")
    assert metadata_load(tmp_path / "README.md")["base_model"] == f"{PROJECT}/c8_mnist"
    assert card.data.base_model == f"{PROJECT}/c8_mnist"
    assert card.data.datasets == ["zalando-datasets/fashion_mnist"] and "rotated-mnist" not in card.data.tags
    results = {r.metric_name: (r.metric_value, r.dataset_name, r.dataset_type) for r in card.data.eval_results}
    assert results == {"rotated test accuracy": (70.0, "FashionMNIST", "zalando-datasets/fashion_mnist"),
                       "upright test accuracy": (71.0, "FashionMNIST", "zalando-datasets/fashion_mnist")}
    assert card.data.model_name == "c8_mnist-FashionMNIST-finetune"
    assert find_record("c8_mnist").revision in card.text and "Fine-tuned on FashionMNIST from" in card.text
    assert "zoo.from_pretrained(" in card.text and "torch.hub.load" not in card.text  # no record names it
    assert "digit" not in card.text  # a clothes classifier: no digits to centre, no digit.png


def test_card_gives_the_input_shape_of_its_weights():
    text = model_card(fine_tuned_config(channels=3))
    assert "(B, 3, 28, 28)" in text and "(1, 3, 28, 28)" in text and "(B, 1, 28, 28)" not in text


def test_card_without_a_hub_dataset_or_test_set_still_parses():
    """An image folder has no Hub dataset id and zoo finetune gives it no test metrics; a name YAML would misread
    (a colon, a leading dash) is quoted."""
    from huggingface_hub import ModelCard

    config = fine_tuned_config(dataset="- cats: dogs", mode="scratch")
    card = ModelCard(model_card(config))
    assert card.data.base_model is None and card.data.datasets is None
    assert {r.dataset_name for r in card.data.eval_results} == {"- cats: dogs"}
    assert "Trained from scratch on - cats: dogs" in card.text
    config["metrics"] = {"val_accuracy": 0.8}
    card = ModelCard(model_card(config))
    assert card.data.eval_results is None and "model-index" not in card.data.to_dict()


def test_write_cards_rewrites_only_the_cards(tmp_path, monkeypatch, capsys):
    """zoo publish --write-cards: every README.md regenerated from its config.json, every other byte kept."""
    from zoo.files import sha256_file

    for name in ("c4_mnist", "c4_mnist-upright"):
        shutil.copytree(ROOT / "weights" / name, tmp_path / name)
    (tmp_path / "c4_mnist" / "README.md").write_text("stale\n")
    before = {p: sha256_file(p) for p in tmp_path.glob("*/*") if p.name != "README.md"}
    monkeypatch.setattr(publish, "checkout_weights", lambda: tmp_path)
    publish.main(["--write-cards"])
    assert "wrote 2 model cards" in capsys.readouterr().out
    for name in ("c4_mnist", "c4_mnist-upright"):
        assert (tmp_path / name / "README.md").read_text() == model_card(read_config(tmp_path / name))
    assert {p: sha256_file(p) for p in before} == before


def test_one_project_name_and_no_placeholder():
    shipped = [ROOT / "README.md", ROOT / "hubconf.py", ROOT / "pyproject.toml", *ROOT.glob("zoo/**/*.py"),
               *ROOT.glob("weights/*/README.md"), *ROOT.glob("docs/*.md")]
    for path in shipped:
        text = path.read_text()
        assert not re.search(r"<owner>|<repo>|<user>", text), f"{path.relative_to(ROOT)} keeps a placeholder"
    assert f'name = "{PROJECT}"' in (ROOT / "pyproject.toml").read_text()
    assert GITHUB_REPO in (ROOT / "hubconf.py").read_text() and GITHUB_REPO in (ROOT / "README.md").read_text()


def test_publish_dry_run_checks_and_lists_every_folder(capsys):
    checked = publish.main([])
    out = capsys.readouterr().out
    assert {r.name for r in checked} == {f.name for f in FOLDERS}
    for record in RECORDS:
        assert f"https://huggingface.co/{record.hub_id} (tag {record.revision})" in out
    assert "dry run, nothing uploaded" in out


def test_publish_refuses_a_folder_that_differs_from_its_record(tmp_path):
    folder = tmp_path / "c4_mnist"
    shutil.copytree(ROOT / "weights" / "c4_mnist", folder)
    assert publish.check_folder(folder) == find_record("c4_mnist")
    (folder / "README.md").write_text("edited by hand\n")
    with pytest.raises(ValueError, match="README.md differ from the record.*--write-records"):
        publish.check_folder(folder)
    renamed = tmp_path / "c4_other"
    shutil.copytree(ROOT / "weights" / "c4_mnist", renamed)
    with pytest.raises(ValueError, match="rename the folder to weights/c4_mnist"):
        publish.check_folder(renamed)


def test_write_records_rewrites_only_its_block(tmp_path):
    target = tmp_path / "records.py"
    source = (ROOT / "zoo" / "records.py").read_text()
    target.write_text(source.replace(render_records(list(RECORDS)), "RECORDS = ()"))
    written = publish.write_records(ROOT / "weights", target)
    assert target.read_text() == source and sorted(written, key=lambda r: r.name) == sorted(RECORDS, key=lambda r: r.name)
    target.write_text("no block here\n")
    with pytest.raises(ValueError, match="BEGIN RECORDS"):
        publish.write_records(ROOT / "weights", target)


def test_folder_names():
    assert folder_name("c8_mnist", "rotated") == "c8_mnist" and folder_name("c8_mnist", "upright") == "c8_mnist-upright"


def test_upload_sends_each_folder_to_its_repository_and_tags_the_revision(monkeypatch, capsys):
    """huggingface_hub's HfApi stood in for (no network here): what --upload asks of it, folder by folder."""
    import huggingface_hub

    calls = []

    class Commit:
        oid = "c0ffee"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, repo_id, **k: calls.append(("repo", repo_id)))
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", lambda self, **k: calls.append(
        ("upload", k["repo_id"], Path(k["folder_path"]).name, sorted(k["allow_patterns"]))) or Commit())
    monkeypatch.setattr(huggingface_hub.HfApi, "create_tag", lambda self, repo_id, **k: calls.append(
        ("tag", repo_id, k["tag"], k["revision"])))
    publish.main(["--upload", "--token", "hf_fake"])
    for record in RECORDS:
        assert ("repo", record.hub_id) in calls
        assert ("upload", record.hub_id, record.name, sorted(record.files)) in calls
        assert ("tag", record.hub_id, record.revision, "c0ffee") in calls
    assert "uploaded: commit c0ffee" in capsys.readouterr().out


def test_a_parent_recorded_as_text_still_makes_a_card():
    """Fine-tuning runs before the records wrote their parent as text ("weights/c8_mnist (sha256 ...)")."""
    config = read_config(ROOT / "weights" / "c8_mnist")
    config.update(parent="weights/c8_mnist (sha256 9ddec02c)", weights_tag="FashionMNIST-probe")
    assert "from `weights/c8_mnist (sha256 9ddec02c)`." in model_card(config)
