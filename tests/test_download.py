"""Pretrained weights without the checkout: resolution order, per-file downloads, hash checks and every fault,
through huggingface_hub's real download code against a loopback server that speaks the Hub's HTTP API
(tests/hub_server.py). The installed-wheel version of these checks is tests/test_wheel.py."""
import os
from pathlib import Path

import pytest
import torch

from conftest import ROOT, assert_close
from hub_server import serve_weights
from zoo import create_model, from_pretrained
from zoo.records import PROJECT, RECORDS, find_record

FOLDERS = sorted(p for p in (ROOT / "weights").iterdir() if (p / "config.json").is_file())


@pytest.fixture(scope="module")
def server():
    with serve_weights(FOLDERS, {r.name: r.revision for r in RECORDS}) as hub:
        yield hub


@pytest.fixture
def hub(server, monkeypatch, tmp_path):
    """The server, empty of faults and counts; huggingface_hub pointed at it (as HF_ENDPOINT would) with an empty
    cache; the zoo without a checkout (as installed from a wheel)."""
    import huggingface_hub.constants as constants

    import zoo.download

    server.reset()
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setattr(zoo.download, "checkout_weights", lambda: None)
    return server


def sent(hub, repo: str) -> dict[str, int]:
    return {name: n for (repo_id, name), n in hub.sent.items() if repo_id == f"{PROJECT}/{repo}"}


def downloads(hub) -> list[str]:
    """The paths of the file requests the server answered (huggingface_hub also asks its API for other things)."""
    return [path for _, path in hub.requests if "/resolve/" in path]


def size(folder: str, name: str) -> int:
    return (ROOT / "weights" / folder / name).stat().st_size


def cached_blob(repo: str, name: str) -> Path:
    import huggingface_hub.constants as constants

    snapshots = Path(constants.HF_HUB_CACHE) / f"models--{PROJECT}--{repo}" / "snapshots"
    return Path(os.path.realpath(next(snapshots.glob(f"*/{name}"))))


def test_first_load_downloads_only_what_it_reads_and_the_second_nothing(hub, digits):
    model = create_model("c8_mnist", pretrained=True)
    assert sent(hub, "c8_mnist") == {"config.json": size("c8_mnist", "config.json"),
                                     "model.safetensors": size("c8_mnist", "model.safetensors")}
    assert set(hub.sent) == {(f"{PROJECT}/c8_mnist", n) for n in ("config.json", "model.safetensors")}
    record = find_record("c8_mnist")
    assert downloads(hub) and all(f"/resolve/{record.revision}/" in path for path in downloads(hub))  # pinned
    hub.reset()
    again = create_model("c8_mnist", pretrained=True)
    assert downloads(hub) == []  # the verified cache answers; the Hub is not asked
    with torch.no_grad():
        assert_close(again(digits[0]), model(digits[0]))
        local = create_model("c8_mnist", pretrained=True, checkpoint_dir=ROOT / "weights" / "c8_mnist")
        assert_close(model(digits[0]), local(digits[0]))


def test_export_downloads_only_the_exported_tensors(hub, digits):
    exported = create_model("trivial_mnist", pretrained=True, export=True)
    assert sent(hub, "trivial_mnist") == {"config.json": size("trivial_mnist", "config.json"),
                                          "exported.safetensors": size("trivial_mnist", "exported.safetensors")}
    with torch.no_grad():
        assert (exported(digits[0]).argmax(1) == digits[1]).sum() >= 9


def test_from_pretrained_of_a_published_repository_uses_its_record(hub):
    model = from_pretrained(f"{PROJECT}/trivial_mnist-upright", export=True)
    assert model.head.out_features == 10
    assert set(sent(hub, "trivial_mnist-upright")) == {"config.json", "exported.safetensors"}
    record = find_record("trivial_mnist", "upright")
    assert downloads(hub) and all(f"/resolve/{record.revision}/" in path for path in downloads(hub))


def test_from_pretrained_of_another_repository_checks_its_config(hub, tmp_path):
    hub.repos["someone/trivial"] = (ROOT / "weights" / "trivial_mnist", set())
    model = from_pretrained("someone/trivial", export=True, cache_dir=tmp_path / "elsewhere")
    assert model.in_channels == 1 and (tmp_path / "elsewhere" / "models--someone--trivial").is_dir()
    assert downloads(hub) and all("/resolve/main/" in path for path in downloads(hub))
    hub.faults[("someone/trivial", "exported.safetensors")] = "corrupt"
    with pytest.raises(ValueError, match="exported.safetensors of someone/trivial .* is corrupt"):
        from_pretrained("someone/trivial", export=True, cache_dir=tmp_path / "fresh")
    with pytest.raises(TypeError, match=r"unknown from_pretrained keyword\(s\) \[.in_chanels.\]"):
        from_pretrained("someone/trivial", in_chanels=3)
    with pytest.raises(ValueError, match="neither a local folder nor a Hub repository id"):
        from_pretrained("no/such/folder")


def test_a_corrupt_cached_file_is_downloaded_again_once(hub, digits):
    create_model("trivial_mnist", pretrained=True, export=True)
    blob = cached_blob("trivial_mnist", "exported.safetensors")
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    hub.reset()
    model = create_model("trivial_mnist", pretrained=True, export=True)
    assert sent(hub, "trivial_mnist") == {"exported.safetensors": size("trivial_mnist", "exported.safetensors")}
    with torch.no_grad():
        assert (model(digits[0]).argmax(1) == digits[1]).sum() >= 9


def test_a_corrupt_download_is_refused_then_recovered(hub):
    hub.faults[(f"{PROJECT}/trivial_mnist", "exported.safetensors")] = "corrupt"
    record = find_record("trivial_mnist")
    with pytest.raises(ValueError) as error:
        create_model("trivial_mnist", pretrained=True, export=True)
    message = str(error.value)
    assert "exported.safetensors" in message and record.files["exported.safetensors"] in message
    assert "even after downloading it again" in message and "rm -rf '" in message and "models--" in message
    assert sent(hub, "trivial_mnist")["exported.safetensors"] == 2 * size("trivial_mnist", "exported.safetensors")
    hub.faults.clear()  # the server serves the right file again: the next load recovers by itself
    create_model("trivial_mnist", pretrained=True, export=True)


def test_a_dropped_connection_is_retried(hub, digits):
    hub.faults[(f"{PROJECT}/trivial_mnist", "exported.safetensors")] = "truncate-once"
    model = create_model("trivial_mnist", pretrained=True, export=True)
    # huggingface_hub retries (from the start: it had not written the partial 10 MB chunk yet)
    assert sent(hub, "trivial_mnist")["exported.safetensors"] > size("trivial_mnist", "exported.safetensors")
    with torch.no_grad():
        assert (model(digits[0]).argmax(1) == digits[1]).sum() >= 9


def test_a_truncated_transfer_fails_clearly_and_leaves_nothing_trusted(hub):
    import huggingface_hub.constants as constants

    hub.faults[(f"{PROJECT}/trivial_mnist", "exported.safetensors")] = "truncate"
    with pytest.raises(ConnectionError, match="downloading .*exported.safetensors failed.*try again"):
        create_model("trivial_mnist", pretrained=True, export=True)
    repo = Path(constants.HF_HUB_CACHE) / f"models--{PROJECT}--trivial_mnist"
    assert not list(repo.glob("snapshots/*/exported.safetensors"))  # only huggingface_hub's .incomplete part
    hub.faults.clear()
    create_model("trivial_mnist", pretrained=True, export=True)


def test_missing_files_and_offline_caches_fail_clearly(hub):
    hub.faults[(f"{PROJECT}/trivial_mnist", "exported.safetensors")] = "404"
    with pytest.raises(FileNotFoundError, match="exported.safetensors does not exist"):
        create_model("trivial_mnist", pretrained=True, export=True)
    with pytest.raises(FileNotFoundError, match="not in the Hugging Face cache .* downloads are off"):
        create_model("c4_mnist", pretrained=True, export=True, local_files_only=True)
    assert not any("c4_mnist" in path for path in downloads(hub))


def test_the_checkout_comes_before_the_cache(server, monkeypatch):
    import zoo.download

    server.reset()
    assert zoo.download.pretrained_folder("c8_mnist") == ROOT / "weights" / "c8_mnist"
    monkeypatch.setattr(zoo.download, "checkout_weights", lambda: None)
    with pytest.raises(FileNotFoundError, match="checkpoint_dir .* is not a folder"):
        zoo.download.pretrained_folder("c8_mnist", checkpoint_dir=ROOT / "no-such-folder")
    assert downloads(server) == []


def test_concurrent_loads_into_one_empty_cache_all_succeed(hub, digits):
    """Threads that load the same checkpoint at once into one empty cache each get verified files and the same
    model (huggingface_hub locks each blob while one of them downloads it)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from zoo.files import sha256_file

    start = threading.Barrier(4)

    def load(_):
        start.wait()  # all four ask the Hub at once
        return create_model("trivial_mnist", pretrained=True, export=True)

    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(load, range(4)))
    record = find_record("trivial_mnist")
    for name in ("config.json", "exported.safetensors"):
        assert sha256_file(cached_blob("trivial_mnist", name)) == record.files[name]
    assert not list(cached_blob("trivial_mnist", "config.json").parent.glob("*.incomplete"))
    with torch.no_grad():
        expected = models[0](digits[0])
        for model in models[1:]:
            assert_close(model(digits[0]), expected)


def test_only_network_failures_become_connection_errors(hub, monkeypatch):
    """A failed connection or a server error says "try again"; a full disk or a bug propagates as itself."""
    import errno

    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError

    httpx2 = pytest.importorskip("httpx2", reason="the transport of huggingface_hub >= 2.0")

    def failing(error):
        def hf_hub_download(**kwargs):
            raise error
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)

    request = httpx2.Request("GET", f"{hub.url}/x")
    for error in (httpx2.ConnectError("refused", request=request), httpx2.ReadTimeout("slow", request=request),
                  HfHubHTTPError("503", response=httpx2.Response(503, request=request))):
        failing(error)
        with pytest.raises(ConnectionError, match="try again"):
            create_model("trivial_mnist", pretrained=True, export=True)
    for error in (OSError(errno.ENOSPC, "No space left on device"), RuntimeError("a bug"),
                  HfHubHTTPError("403", response=httpx2.Response(403, request=request))):
        failing(error)
        with pytest.raises(type(error)) as raised:
            create_model("trivial_mnist", pretrained=True, export=True)
        assert raised.value is error
