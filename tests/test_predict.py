"""zoo predict: files and folders of pictures, end to end."""
import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, png_header, published
from zoo.cli import predict


@pytest.fixture(scope="module")
def photos(tmp_path_factory, digits):
    """Pictures of the embedded digits as a person has them, in nested folders, and one file that is not one."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("photos")
    images, labels = digits
    expected = {}
    for i, (image, label) in enumerate(zip(images[:, 0], labels)):
        big = torch.nn.functional.interpolate(image[None, None], scale_factor=5, mode="bilinear")[0, 0]
        page = np.full((200, 240), 230, np.uint8)
        page[20:160, 50:190] -= (200 * big.clamp(0, 1).numpy()).astype(np.uint8)
        sub = folder / ("a" if i % 2 else "b/c")
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"digit{i}.{'png' if i % 3 else 'jpg'}"
        Image.fromarray(page if i % 4 else np.dstack([page] * 3)).save(path)
        expected[str(path)] = str(int(label))
    (folder / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    (folder / "b" / "bomb.png").write_bytes(png_header(20_000, 10_000))  # 200 megapixels declared, no data
    (folder / "notes.txt").write_text("not a picture, and not picked up from a folder")
    return folder, expected


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo.cli", "predict", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_a_folder_end_to_end(photos):
    published("c8_mnist")
    folder, expected = photos
    out = run([str(folder), "--model", "c8_mnist", "--format", "json", "--top", "3", "--batch-size", "4"])
    assert out.returncode == 1, out.stderr  # one file skipped
    assert "broken.png" in out.stderr and "skipped" in out.stderr and "notes.txt" not in out.stderr
    assert "bomb.png has more than 25,000,000 pixels" in out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(r["path"] for r in rows) == sorted(expected)
    for r in rows:
        assert set(r) >= {"path", "label", "probability", "top"} and len(r["top"]) == 3
        assert r["top"][0] == {"label": r["label"], "probability": r["probability"]}
        assert r["top"][0]["probability"] >= r["top"][1]["probability"] >= r["top"][2]["probability"]
    assert sum(r["label"] == expected[r["path"]] for r in rows) >= len(rows) - 1


def test_every_file_read_exits_0(photos):
    published("so2_mnist")
    folder, expected = photos
    files = sorted(expected)[:3]
    out = run([*files, "--model", "so2_mnist"])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and all(line.split()[-1] in files for line in lines)  # table: label, %, path


def test_formats(photos, capsys):
    published("c4_mnist")
    folder, expected = photos
    files = sorted(expected)[:4]
    results = predict.main([*files, "--model", "c4_mnist", "--format", "csv", "--top", "2"])
    table = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert table[0] == ["path", "label", "probability", "label_2", "probability_2"]
    assert [row[0] for row in table[1:]] == files == [r["path"] for r in results]
    assert [row[1] for row in table[1:]] == [r["label"] for r in results]
    predict.main([*files, "--model", "c4_mnist", "--format", "table"])
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_missing_paths_and_usage_errors(tmp_path):
    out = run([str(tmp_path / "nothing.png"), "--model", "c8_mnist"])
    assert out.returncode == 1 and "no such file or folder" in out.stderr
    (tmp_path / "empty").mkdir()
    out = run([str(tmp_path / "empty"), "--model", "c8_mnist"])
    assert out.returncode == 1 and "no pictures to classify" in out.stderr and not out.stdout
    for args in (["x.png"], ["x.png", "--model", "resnet50"], ["x.png", "--model", "c8_mnist", "--top", "0"],
                 ["x.png", "--model", "c8_mnist", "--format", "xml"]):
        assert run(args).returncode == 2


def test_upright_frames_as_create_transform_upright(photos, capsys):
    """--upright classifies with create_transform(model, upright=True), the default with the invariant framing."""
    from zoo import create_model, create_transform

    published("c8_mnist")
    folder, expected = photos
    files = sorted(expected)[:3]
    model = create_model("c8_mnist", pretrained=True, export=True)
    answers = {}
    for flags, upright in (([], False), (["--upright"], True)):
        results = predict.main([*files, "--model", "c8_mnist", "--format", "json", "--top", "10", *flags])
        capsys.readouterr()
        x = torch.stack([create_transform(model, upright=upright)(f) for f in files])
        with torch.no_grad():
            probabilities = model(x).softmax(1)
        names = model.pretrained_cfg.class_names
        answers[upright] = torch.tensor([[{t["label"]: t["probability"] for t in r["top"]}[n] for n in names]
                                         for r in results])
        torch.testing.assert_close(answers[upright], probabilities, rtol=0, atol=2e-6)  # JSON rounds to 1e-6
    assert (answers[True] - answers[False]).abs().max() > 1e-3  # the framings differ, and the test tells them apart
