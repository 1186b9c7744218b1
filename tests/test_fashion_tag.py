"""The ``fashion`` weights tag: Fashion-MNIST's raw IDX files, its evaluation protocol, publishing the all-image
fine-tuning runs (experiments/finetune_fashion.py publish) and loading what was published, on stand-ins made here:
a tiny fabricated data folder and a checkpoint shaped as ``zoo finetune`` writes one."""
import gzip
import importlib.util
import json
import struct

import numpy as np
import pytest
import torch

from conftest import ROOT, built_model
from zoo import data
from zoo.records import PROJECT, WEIGHT_TAGS, find_record, record_from_folder, render_records, tag_dataset

PRESET = "trivial_mnist"  # the quickest preset to build, save and evaluate
RUN = f"{PRESET}-finetune-n59000-s0"  # the all-image fine-tuning run publish looks for


def write_idx(path, array: np.ndarray) -> None:
    """An IDX file of unsigned bytes, gzipped when ``path`` ends in .gz (as Debian installs Fashion-MNIST)."""
    content = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    with (gzip.open(path, "wb") if str(path).endswith(".gz") else open(path, "wb")) as f:
        f.write(content)


def fake_fashion(folder, n_train=30, n_test=20, gz=True):
    """A data root laid out as dataset-fashion-mnist: four IDX files of random images and labels 0..9."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for train, n in ((True, n_train), (False, n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for name, array in zip(data.IDX_FILES[train], (images, labels)):
            write_idx(folder / (name + (".gz" if gz else "")), array)
        arrays[train] = images, labels
    return arrays


def fine_tuned_checkpoint(folder, seed=0):
    """What ``zoo finetune trivial_mnist --dataset FashionMNIST --mode finetune`` writes (random weights)."""
    from zoo.checkpoint import save_checkpoint
    from zoo.cli.finetune import parent_of
    from zoo.files import CheckpointInfo

    torch.manual_seed(seed)
    model = built_model(PRESET).eval()
    with torch.no_grad():
        model.head.bias.add_(torch.randn(10))  # another seed, other weights
    mnist = find_record(PRESET)
    model.meta = CheckpointInfo(
        preset=PRESET, weights_tag="FashionMNIST-finetune", mode="finetune", class_names=list(data.FASHION_CLASSES),
        parent=parent_of(PRESET, "rotated", CheckpointInfo(PRESET, weights_sha256=mnist.files["model.safetensors"])),
        metrics={"val_accuracy": 0.5, "test_rotated_accuracy": 0.4, "test_images": 10000},
        protocol=f"FashionMNIST: 59000 training and 1000 validation images; test set rotated as in {data.PROTOCOL}",
        training={"dataset": "FashionMNIST", "epochs": 5.0, "command": "zoo finetune ..."})
    save_checkpoint(model, folder)
    return folder


@pytest.fixture(scope="module")
def run_out(tmp_path_factory):
    return fine_tuned_checkpoint(tmp_path_factory.mktemp("runs") / RUN / "out")


def fashion_experiment():
    spec = importlib.util.spec_from_file_location("finetune_fashion", ROOT / "experiments" / "finetune_fashion.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def published(tmp_path, run_out, monkeypatch):
    """The stand-in run published by ``finetune_fashion.py publish`` into a weights folder of its own, its record
    (read back from the records file publish wrote) taken as the zoo's, and that folder as the checkout's."""
    import shutil

    from zoo import download, records, registry

    runs, weights = tmp_path / "runs", tmp_path / "weights"
    shutil.copytree(run_out, runs / RUN / "out")
    weights.mkdir()
    records_file = tmp_path / "records.py"
    records_file.write_text("# BEGIN RECORDS\nRECORDS = ()\n# END RECORDS\n")
    fashion_experiment().main(["publish", "--runs", str(runs), "--weights-dir", str(weights),
                               "--records-file", str(records_file)])
    namespace = {}
    exec("from zoo.records import WeightsRecord\n" + records_file.read_text(), namespace)
    table = tuple(r for r in records.RECORDS if r.tag != "fashion") + namespace["RECORDS"]  # the stand-in alone
    monkeypatch.setattr(records, "RECORDS", table)
    monkeypatch.setattr(registry, "RECORDS", table)
    monkeypatch.setattr(download, "checkout_weights", lambda: weights)
    return weights / f"{PRESET}-fashion", namespace["RECORDS"]


@pytest.fixture()
def unpublished(tmp_path, monkeypatch):
    """The zoo as it stands before any fashion weights are published: no record, no folder."""
    from zoo import download, records, registry

    table = tuple(r for r in records.RECORDS if r.tag != "fashion")
    monkeypatch.setattr(records, "RECORDS", table)
    monkeypatch.setattr(registry, "RECORDS", table)
    monkeypatch.setattr(download, "checkout_weights", lambda: tmp_path)


# ----------------------------------------------------------------------------------------------- the data --

@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_load_as_tensors(tmp_path, gz):
    arrays = fake_fashion(tmp_path, gz=gz)
    for train in (True, False):
        images, labels = data.load_idx(tmp_path, train)
        expected_images, expected_labels = arrays[train]
        assert images.shape == (len(expected_images), 1, 28, 28) and images.dtype == torch.float32
        assert torch.equal(images, torch.from_numpy(expected_images).unsqueeze(1).float() / 255)
        assert torch.equal(labels, torch.from_numpy(expected_labels).long()) and labels.dtype == torch.int64
    assert data.load_dataset("FashionMNIST", tmp_path, train=False)[0].shape == (20, 1, 28, 28)
    assert len(data.FASHION_CLASSES) == 10 and data.DATASET_CLASSES[tag_dataset("fashion")] == data.FASHION_CLASSES


def test_bad_idx_files_are_refused_with_the_file_named(tmp_path):
    fake_fashion(tmp_path, gz=False)
    images = tmp_path / "t10k-images-idx3-ubyte"
    whole = images.read_bytes()
    images.write_bytes(whole[:-5])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte does not hold the 15,680 bytes.*truncated"):
        data.load_idx(tmp_path, train=False)
    images.write_bytes(b"\x00\x00\x0d\x03" + whole[4:])  # float32 data, not bytes
    with pytest.raises(ValueError, match="not an IDX file of unsigned bytes"):
        data.load_idx(tmp_path, train=False)
    images.write_bytes(whole)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(19, np.uint8))
    with pytest.raises(ValueError, match=r"do not pair up: images \(20, 28, 28\).*labels \(19,\)"):
        data.load_idx(tmp_path, train=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="neither t10k-labels-idx1-ubyte nor t10k-labels-idx1-ubyte.gz"):
        data.load_idx(tmp_path, train=False)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    (tmp_path / "train-images-idx3-ubyte").unlink(missing_ok=True)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        data.load_idx(tmp_path, train=True)
    with pytest.raises(ValueError, match="never downloaded"):
        data.load_dataset("FashionMNIST", tmp_path, train=False, download=True)


def test_finetune_reads_the_same_idx_files(tmp_path):
    """zoo finetune --dataset FashionMNIST on a folder of raw IDX files: the loader evaluate uses, the class names
    torchvision gives, each image as ToTensor gives it (and resized for --image-size)."""
    from zoo.cli.finetune import load_torchvision

    fake_fashion(tmp_path)
    dataset, _ = load_torchvision("FashionMNIST", tmp_path, False, False, 1, 28)
    images, labels = data.load_idx(tmp_path, train=False)
    assert dataset.classes == data.FASHION_CLASSES and len(dataset) == 20
    for i in (0, 7, 19):
        image, label = dataset[i]
        assert torch.equal(image, images[i]) and label == labels[i]
    rgb, _ = load_torchvision("FashionMNIST", tmp_path, True, False, 3, 32)
    assert rgb[0][0].shape == (3, 32, 32) and len(rgb) == 30


# ------------------------------------------------------------------------------------------- evaluation --

def test_evaluate_measures_a_fashion_checkpoint_on_the_rotated_fashion_protocol(tmp_path, run_out):
    """The test images turned by the MNIST protocol's angles (image i by rotated_test_angles()[i]) and upright."""
    from zoo.checkpoint import load_checkpoint
    from zoo.cli import evaluate
    from zoo.metrics import accuracy

    root = tmp_path / "fashion"
    fake_fashion(root)
    out = tmp_path / "results.json"
    results = evaluate.main([str(run_out), "--weights", "fashion", "--data-root", str(root), "--no-profile",
                             "--json", str(out)])
    (result,) = results.values()
    model, (images, labels) = load_checkpoint(run_out), data.load_idx(root, train=False)
    rotated = data.rotate(images, data.rotated_test_angles(len(images)))
    assert result["test_images"] == 20 and json.loads(out.read_text()) == results
    assert result["test_rotated_accuracy"] == accuracy(model, rotated, labels)
    assert result["test_upright_accuracy"] == accuracy(model, images, labels)
    with pytest.raises(SystemExit):  # measured on MNIST, a clothes classifier's numbers would mean nothing
        evaluate.main([str(run_out), "--data-root", str(root), "--no-profile"])


def test_evaluate_reads_fashion_from_debians_folder_by_default(monkeypatch, run_out):
    from zoo.cli import evaluate

    roots = []
    images, labels = torch.rand(10, 1, 28, 28), torch.arange(10)
    monkeypatch.setattr(data, "load_idx", lambda root, train: roots.append((str(root), train)) or (images, labels))
    evaluate.main([str(run_out), "--weights", "fashion", "--no-profile"])
    assert roots == [(data.FASHION_MNIST_ROOT, False)]


def test_evaluate_refuses_a_tag_without_published_weights(unpublished):
    from zoo.cli import evaluate
    from zoo.registry import published_models

    assert published_models("fashion") == []
    with pytest.raises(SystemExit):
        evaluate.main(["--weights", "fashion", "--no-profile"])


def test_fashion_table_is_not_compared_with_mnist(tmp_path):
    from zoo.cli.evaluate import tag_table

    row = {"num_params": 1, "mflops": 1.0, "test_upright_accuracy": 0.7, "test_rotated_accuracy": 0.6,
           "profile_min_accuracy": 0.5, "profile_max_accuracy": 0.7}
    for tag in ("rotated", "upright", "fashion"):
        (tmp_path / tag).mkdir()
        (tmp_path / tag / f"{PRESET}.json").write_text(json.dumps(row))
    assert "gap to rotated-trained" in tag_table(tmp_path, "upright").splitlines()[0]
    header, _, body = tag_table(tmp_path, "fashion").splitlines()
    assert "gap" not in header and body.count("|") == header.count("|")


def test_evaluate_update_publishes_the_fashion_numbers(published, tmp_path, monkeypatch):
    """--update on a published fashion folder: metrics into config.json and the card, results/fashion/, and the
    table into its documentation block (here a document of the test's own)."""
    from zoo.card import model_card
    from zoo.cli import evaluate
    from zoo.dev.docs import update_readme
    from zoo.files import read_config

    folder, _ = published
    root = tmp_path / "fashion"
    fake_fashion(root)
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- BEGIN results-fashion -->\nNo `fashion` weights are published yet.\n"
                   "<!-- END results-fashion -->\n")
    monkeypatch.setattr(evaluate, "weights_folder", lambda name, tag: folder)
    monkeypatch.setattr(evaluate, "update_docs", lambda key, table: update_readme(key, table, doc))
    results = evaluate.main(["--weights", "fashion", "--data-root", str(root), "--update", "--results",
                             str(tmp_path / "results"), "--plot", str(tmp_path / "profile.png")])
    config = read_config(folder)
    assert set(results) == {PRESET} and config["metrics"]["test_images"] == 20
    assert config["metrics"]["test_rotated_accuracy"] == results[PRESET]["test_rotated_accuracy"]
    assert len(config["metrics"]["profile"]) == len(data.PROFILE_ANGLES)
    assert (folder / "README.md").read_text() == model_card(config)
    assert json.loads((tmp_path / "results" / "fashion" / f"{PRESET}.json").read_text()) == results[PRESET]
    table = doc.read_text()
    assert f"| {PRESET} | 65,354 |" in table and "gap" not in table and "published yet" not in table


# ----------------------------------------------------------------------------------------------- publish --

def test_publish_makes_the_fashion_folder_its_card_and_its_record(published, run_out):
    from huggingface_hub import ModelCard

    from zoo.files import read_config

    folder, (record,) = published
    config, run = read_config(folder), read_config(run_out)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "exported.safetensors",
                                                         "model.safetensors"]
    assert not (folder.parent / ".publishing").exists()
    assert config["weights_tag"] == "fashion" and config == {**run, "weights_tag": "fashion"}
    card = ModelCard.load(folder / "README.md")
    assert card.data.base_model == f"{PROJECT}/{PRESET}" == run["parent"]["hub_id"]
    assert card.data.datasets == ["zalando-datasets/fashion_mnist"] and card.data.model_name == f"{PRESET}-fashion"
    assert f'zoo.create_model("{PRESET}", pretrained=True, weights="fashion")' in card.text
    assert f'torch.hub.load("{PROJECT}/{PROJECT}", "{PRESET}", weights="fashion")' in card.text
    assert record == record_from_folder(folder) and record.tag == "fashion"
    assert record.hub_id == f"{PROJECT}/{PRESET}-fashion" and record.files["model.safetensors"] == run["weights_sha256"]
    assert record.metrics == {"val_accuracy": 0.5, "test_rotated_accuracy": 0.4}
    namespace = {}
    exec("from zoo.records import WeightsRecord\n" + render_records([record]), namespace)
    assert namespace["RECORDS"] == (record,)


def test_publish_replaces_other_weights_only_with_overwrite(published, tmp_path, capsys):
    from zoo.files import sha256_file

    folder, (record,) = published
    fashion = fashion_experiment()
    runs = tmp_path / "runs"
    args = ["publish", "--runs", str(runs), "--weights-dir", str(folder.parent), "--records-file",
            str(tmp_path / "records.py")]
    fashion.main(args)  # the same run again: nothing to replace
    assert {p.name: sha256_file(p) for p in folder.iterdir()} == dict(record.files)
    fine_tuned_checkpoint(runs / RUN / "out", seed=1)  # the run made again, other weights
    with pytest.raises(SystemExit, match="holds other published weights.*--overwrite"):
        fashion.main(args)
    assert {p.name: sha256_file(p) for p in folder.iterdir()} == dict(record.files)
    fashion.main(args + ["--overwrite"])
    assert sha256_file(folder / "model.safetensors") != record.files["model.safetensors"]
    assert sha256_file(folder / "model.safetensors") == json.loads((runs / RUN / "out" / "config.json").read_text())[
        "weights_sha256"]
    assert sorted(p.name for p in folder.parent.iterdir()) == [f"{PRESET}-fashion"]


def test_publish_refuses_what_is_not_an_all_image_fine_tuning_run(tmp_path):
    from zoo.files import read_config, write_config

    fashion = fashion_experiment()
    out = fine_tuned_checkpoint(tmp_path / "runs" / RUN / "out")
    write_config(out, {**read_config(out), "mode": "scratch", "parent": None})
    (tmp_path / "weights").mkdir()
    with pytest.raises(SystemExit, match="mode 'scratch' \\(expected 'finetune'\\).*parent None"):
        fashion.main(["publish", "--runs", str(tmp_path / "runs"), "--weights-dir", str(tmp_path / "weights"),
                      "--records-file", str(tmp_path / "records.py")])
    assert list((tmp_path / "weights").iterdir()) == []
    with pytest.raises(SystemExit, match="no all-image fine-tuning run has finished"):
        fashion.main(["publish", "--runs", str(tmp_path / "nothing"), "--weights-dir", str(tmp_path / "weights")])


# ------------------------------------------------------------------------------------------------ loading --

def test_published_fashion_weights_load_by_every_entry_point(published):
    import zoo
    from zoo.hub import trivial_mnist as hub_entry  # what torch.hub.load calls
    from zoo.registry import list_models, published_models, resolve_pretrained_cfg

    folder, (record,) = published
    sha = record.files["model.safetensors"]
    assert published_models("fashion") == [PRESET] and PRESET in list_models(pretrained=True)
    models = [zoo.create_model(PRESET, pretrained=True, weights="fashion"),
              zoo.create_model(f"{PRESET}.fashion", pretrained=True),
              hub_entry(weights="fashion"),
              zoo.from_pretrained(f"{PROJECT}/{PRESET}-fashion")]
    assert all(m.meta.weights_sha256 == sha for m in models)
    for cfg in (models[0].pretrained_cfg, models[1].pretrained_cfg, resolve_pretrained_cfg(f"{PRESET}.fashion")):
        assert cfg.framing == "fashion_mnist" and cfg.class_names == tuple(data.FASHION_CLASSES)
        assert cfg.tag == "fashion" and cfg.hub_id == f"{PROJECT}/{PRESET}-fashion"
    assert zoo.create_model(PRESET, pretrained=True, weights="fashion", export=True).pretrained_cfg.framing == \
        "fashion_mnist"


def test_pretrained_cfg_follows_the_data_of_the_weights(run_out):
    from zoo.files import read_config
    from zoo.registry import pretrained_cfg, resolve_pretrained_cfg

    config = read_config(run_out)  # a zoo finetune run on Fashion-MNIST, published or not
    cfg = pretrained_cfg(config)
    assert cfg.framing == "fashion_mnist" and cfg.class_names == tuple(data.FASHION_CLASSES)
    mnist = pretrained_cfg(read_config(ROOT / "weights" / PRESET), find_record(PRESET))
    assert mnist.framing == "mnist_invariant" and mnist.class_names == tuple(data.MNIST_CLASSES)
    assert resolve_pretrained_cfg(f"{PRESET}.fashion").class_names == tuple(data.FASHION_CLASSES)


def test_unpublished_fashion_weights_raise_the_no_published_weights_error(unpublished):
    import zoo
    from zoo.registry import list_models

    assert "fashion" in WEIGHT_TAGS and find_record("c8_mnist", "fashion") is None
    assert list_models(pretrained=True) == list_models()  # every preset has its MNIST weights
    with pytest.raises(FileNotFoundError, match="no published 'fashion' weights for c8_mnist.*zoo finetune"):
        zoo.create_model("c8_mnist", pretrained=True, weights="fashion", local_files_only=True)
