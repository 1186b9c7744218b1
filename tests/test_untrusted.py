"""Checkpoints from strangers: every hostile config.json, layer spec or weights file is refused with one
ValueError naming what is wrong, before any module is built or any tensor allocated; the shapes the loaders
expect, derived by arithmetic, are those of the real networks."""
import hashlib
import json
import shutil
import struct

import pytest
import torch
from safetensors.torch import save_file

from conftest import ROOT
from hub_server import HubServer
from zoo import from_pretrained
from zoo.architecture import REGULAR_FIELD_SIZES, Architecture
from zoo.files import CONFIG_NAME, EXPORTED_NAME, WEIGHTS_NAME, weights_tensors
from zoo.registry import list_models
from zoo.presets import PRESETS

SOURCE = ROOT / "weights" / "trivial_mnist"  # the smallest published checkpoint (escnn weights and export)


# ------------------------------------------------------------------------- what the arithmetic says is real --

EXTRA = {  # beyond the presets: other band limits and grids, a longer subgroup tail, one layer, colour input
    "so2_L1": Architecture(group="so2", widths=(8, 8), kernel_sizes=(3, 3), pool_after=(1,), so2_max_frequency=1,
                           so2_grid_size=3),
    "so2_L5": Architecture(group="so2", widths=(8, 12, 8), kernel_sizes=(3, 5, 1), pool_after=(), so2_max_frequency=5,
                           so2_grid_size=11, num_classes=3),
    "d4_tail2": Architecture(group="d4", widths=(8, 8, 8), kernel_sizes=(3, 3, 3), subgroup_layers=2, in_channels=3),
    "c4_one_layer": Architecture(group="c4", widths=(5,), kernel_sizes=(9,), pool_after=(0,), num_classes=1),
}
ARCHITECTURES = {**{name: PRESETS[name].architecture for name in list_models()}, **EXTRA}


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_implied_tensors_are_those_of_the_real_networks(name):
    from zoo.checkpoint import portable_state
    from zoo.convert import export
    from zoo.exported import export_spec, exported_tensors
    from zoo.limits import TensorInfo
    from zoo.model import EquivariantCNN

    arch = ARCHITECTURES[name]
    model = EquivariantCNN(arch, initialize=False).eval()

    def real(state):
        return {k: TensorInfo(str(v.dtype).replace("torch.float32", "F32").replace("torch.int64", "I64"),
                              tuple(v.shape)) for k, v in state.items()}

    assert weights_tensors(arch) == real(portable_state(model))
    exported = export(model)
    assert exported_tensors(export_spec(exported)) == real(exported.state_dict())
    assert [layer.channels for layer in arch.layers()] == [block.conv.out_type.size for block in model.blocks]
    assert arch.num_features == model.num_features


def test_field_sizes_are_escnn_s():
    from zoo.groups import GROUPS

    assert set(GROUPS) == set(REGULAR_FIELD_SIZES) | {"so2"}
    for name, size in REGULAR_FIELD_SIZES.items():
        assert GROUPS[name].gspace().regular_repr.size == size, name


@pytest.mark.parametrize("folder", sorted(p.name for p in (ROOT / "weights").iterdir() if (p / CONFIG_NAME).is_file()))
def test_the_cost_bound_counts_what_the_published_checkpoints_recorded(folder):
    config = json.loads((ROOT / "weights" / folder / CONFIG_NAME).read_text())
    arch = Architecture.from_dict(config["architecture"])
    # the recorded count also has the blur pools and the head: under 1% of it
    assert arch.mflops() == pytest.approx(config["mflops_28x28"], rel=0.01)


# ------------------------------------------------------------------------------------------ hostile folders --

@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A copy of a published checkpoint to spoil, with every way of building a model or reading tensors made to
    fail the test: a refusal must come before them."""
    import zoo.checkpoint
    import zoo.exported
    from zoo.model import EquivariantCNN

    def built(*args, **kwargs):
        raise AssertionError("a module was built or a tensor read from a checkpoint that should have been refused")

    monkeypatch.setattr(EquivariantCNN, "__init__", built)
    monkeypatch.setattr(zoo.exported, "build_exported", built)
    monkeypatch.setattr(zoo.checkpoint, "load_file", built)
    monkeypatch.setattr(zoo.exported, "load_file", built)
    shutil.copytree(SOURCE, tmp_path / "evil")
    return tmp_path / "evil"


def edit(folder, change) -> None:
    config = json.loads((folder / CONFIG_NAME).read_text())
    change(config)
    (folder / CONFIG_NAME).write_text(json.dumps(config))


def load(folder, export: bool):
    return from_pretrained(folder, export=export)


def arch(**values):
    return lambda config: config["architecture"].update(values)


DEEP = {"a": [[[[1]]]]}
CONFIGS = {  # name: (change to config.json, what the error must say)
    "huge so2 grid": (arch(so2_grid_size=5_000_000),
                      r"architecture.so2_grid_size must be a positive int up to 256, got 5000000"),
    "huge band limit": (arch(so2_max_frequency=10 ** 6), r"architecture.so2_max_frequency must be .* up to 16"),
    "grid too coarse for the band": (arch(group="so2", so2_max_frequency=8, so2_grid_size=16),
                                     r"so2_grid_size must be at least 2 \* so2_max_frequency \+ 1 = 17"),
    "huge width": (arch(widths=[16, 32, 100_000, 64, 64]), r"architecture.widths\[2\] must be .* up to 512"),
    "huge kernel": (arch(kernel_sizes=[7, 5, 5, 99, 3]), r"architecture.kernel_sizes\[3\] must be .* up to 15"),
    "even kernel": (arch(kernel_sizes=[7, 5, 5, 4, 3]), r"architecture.kernel_sizes must be odd"),
    "many layers": (arch(widths=[16] * 1000, kernel_sizes=[3] * 1000),
                    r"architecture.widths must be a list of 1 to 16 items"),
    "too costly in bounds": (arch(widths=[512] * 16, kernel_sizes=[15] * 16, pool_after=[]),
                             r"architecture: .* filter values and .* MFLOPs .* more than"),
    "huge in_channels": (arch(in_channels=10 ** 6), r"architecture.in_channels must be a positive int up to 16"),
    "huge num_classes": (arch(num_classes=10 ** 9), r"architecture.num_classes must be .* up to 10,000"),
    "unknown group": (arch(group="c1000"), r"architecture.group: unknown group 'c1000'"),
    "group not a string": (arch(group=["c8"]), r"unknown group \['c8'\]"),
    "widths a string": (arch(widths="16,32"), r"architecture.widths must be a list"),
    "width a float": (arch(widths=[16.0, 32, 32, 64, 64]), r"architecture.widths\[0\] must be a positive int"),
    "width a bool": (arch(widths=[True, 32, 32, 64, 64]), r"architecture.widths\[0\] must be a positive int"),
    "in_channels null": (arch(in_channels=None), r"architecture.in_channels must be a positive int up to 16, got None"),
    "nested dict": (arch(widths={"a": {"b": 1}}), r"architecture.widths must be a list"),
    "ragged layers": (arch(kernel_sizes=[7, 5, 5]), r"widths and kernel_sizes need one entry per layer"),
    "pool index out of range": (arch(pool_after=[0, 9]), r"pool_after holds layer indices from 0 to 4"),
    "architecture a list": (lambda c: c.update(architecture=[1, 2]), r"architecture must be an object"),
    "unknown architecture key": (arch(depth=3), r"architecture has keys this zoo does not know \(\['depth'\]\)"),
    "unknown top-level key": (lambda c: c.update(weigths_tag="x"), r"keys this zoo does not know \(\['weigths_tag'\]"),
    "ragged self-check": (lambda c: c["self_check"]["logits"][3].pop(), r"self_check.logits must be .* got ragged rows of lengths \[9, 10\]"),
    "self-check strings": (lambda c: c["self_check"]["logits"][0].__setitem__(0, "1.0"),
                           r"self_check.logits\[0\]\[0\] must be a finite number"),
    "class names not strings": (lambda c: c.update(class_names=list(range(10))), r"class_names\[0\] must be a string"),
    "too many class names": (lambda c: c.update(class_names=["x"] * 20_000), r"class_names must be a list of 1 to"),
    "long protocol": (lambda c: c.update(protocol="x" * 100_000), r"protocol must be a string of at most 2,000"),
    "deep metrics": (lambda c: c["metrics"].update(DEEP), r"metrics.a\[0\]\[0\] must be a number, a string, .*too deep"),
    "versions nested": (lambda c: c.update(versions={"torch": {"v": 1}}), r"versions.torch must be"),
    "input size strings": (lambda c: c["input"].update(size=["28", 28]), r"input.size\[0\] must be a positive int"),
    "negative num_params": (lambda c: c.update(num_params=-1), r"num_params must be an int from 0"),
    "bad sha256": (lambda c: c.update(weights_sha256="../../etc/passwd"), r"weights_sha256 must be a string .*matching"),
    "sha256 null": (lambda c: c.update(weights_sha256=None), r"weights_sha256 must be a string .*got None"),
    "architecture null": (lambda c: c.update(architecture=None), r"architecture must be an object, got None"),
    "huge input size": (lambda c: c["input"].update(size=[100_000, 100_000]), r"input.size\[0\] must be .* up to 1,024"),
    "format version a string": (lambda c: c.update(format_version="3"), r"format_version must be"),
    "mflops a string": (lambda c: c.update(mflops_28x28="fast"), r"mflops_28x28 must be a finite number"),
    "export of 300,000 channels": (lambda c: c["export"]["layers"][0].__setitem__(2, 300_000),
                                   r"export.layers\[0\]\[2\] must be an int from 0 to 4,096, got 300000"),
    "export layers a string": (lambda c: c["export"].update(layers="conv"), r"export.layers must be a list"),
    "export layer kind a number": (lambda c: c["export"]["layers"][0].__setitem__(0, 7),
                                   r"export.layers\[0\]\[0\] must be a string"),
    "export without head": (lambda c: c["export"].pop("head"), r"export lacks \['head'\]"),
    "export head of strings": (lambda c: c["export"].update(head=["a", 10]), r"export.head\[0\] must be"),
}


@pytest.mark.parametrize("export", [False, True], ids=["escnn", "export"])
@pytest.mark.parametrize("case", CONFIGS)
def test_a_hostile_config_is_refused_naming_the_field(folder, case, export):
    change, message = CONFIGS[case]
    edit(folder, change)
    with pytest.raises(ValueError, match=message) as error:
        load(folder, export)
    assert str(folder / CONFIG_NAME) in str(error.value)


def test_an_oversized_config_is_refused_by_its_size_before_it_is_read(folder):
    with open(folder / CONFIG_NAME, "r+b") as f:
        f.truncate(50_000_000)  # a sparse 50 MB file: reading it would take a while, parsing it longer
    with pytest.raises(ValueError, match=r"config.json is 50,000,000 bytes, more than the 1,048,576 a config.json"):
        load(folder, False)


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"preset": NaN}', "NaN is not a number JSON allows"),
    (b"\xff\xfe{}", "not valid JSON"),
    ("[1, 2]", r"lacks \['architecture', 'weights_sha256', 'preset'\]"),
])
def test_config_json_that_is_not_a_config_is_refused(folder, text, message):
    (folder / CONFIG_NAME).write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError, match=message):
        load(folder, False)


def test_unknown_layer_kinds_and_wrong_arguments_are_refused_before_building(folder):
    edit(folder, lambda c: c["export"]["layers"].__setitem__(1, ["fft", 3]))
    with pytest.raises(ValueError, match=r"export.layers\[1\]: unknown layer kind 'fft'"):
        load(folder, True)
    edit(folder, lambda c: c["export"]["layers"].__setitem__(1, ["conv", 16]))
    with pytest.raises(ValueError, match=r"export.layers\[1\]: a conv layer takes \['conv', in_channels, "
                                         r"out_channels, kernel_size\], got \['conv', 16\]"):
        load(folder, True)


def rewrite_weights(folder, name: str, state: dict[str, torch.Tensor]) -> None:
    """Replace a weights file and record its hash, as a stranger who controls both files would."""
    save_file(state, folder / name)
    digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    edit(folder, lambda c: c.update(weights_sha256=digest) if name == WEIGHTS_NAME else c["export"].update(sha256=digest))


WEIGHTS_CASES = {  # name: (change to the state, what the error must say)
    "missing tensor": (lambda s: s.pop("head.bias"), r"missing: \['head.bias'\]"),
    "extra tensor": (lambda s: s.update(extra=torch.zeros(3)), r"unexpected: \['extra'\]"),
    "wrong shape": (lambda s: s.update({"head.bias": torch.zeros(11)}),
                    r"wrong dtype or shape: \['head.bias is F32\[11\], expected F32\[10\]'\]"),
    "wrong dtype": (lambda s: s.update({"head.bias": torch.zeros(10, dtype=torch.float64)}),
                    r"head.bias is F64\[10\], expected F32\[10\]"),
}


@pytest.mark.parametrize("name", [WEIGHTS_NAME, EXPORTED_NAME])
@pytest.mark.parametrize("case", WEIGHTS_CASES)
def test_weights_that_disagree_with_the_config_are_refused_by_their_header(folder, case, name):
    import safetensors.torch

    change, message = WEIGHTS_CASES[case]
    state = safetensors.torch.load_file(SOURCE / name)
    change(state)
    rewrite_weights(folder, name, state)
    with pytest.raises(ValueError, match=message):
        load(folder, name == EXPORTED_NAME)


def header_file(header: bytes, length: int | None = None, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header) if length is None else length) + header + data


@pytest.mark.parametrize("name", [WEIGHTS_NAME, EXPORTED_NAME])
@pytest.mark.parametrize("content, message", [
    (header_file(b"{}", length=10 ** 12), r"not a readable safetensors file: its header claims 1,000,000,000,000"),
    (header_file(b"x" * 300_000), r"its header claims 300,000 bytes .* a header may have 262,144"),
    (header_file(b"\x00garbage\xff"), r"header is not valid JSON"),
    (header_file(b"[1, 2, 3]"), r"its header is not a JSON object"),
    (header_file(json.dumps({"head.bias": {"dtype": "F32", "shape": [10], "data_offsets": [0, 4]}}).encode(),
                 data=b"\0" * 4), r"head.bias is F32\[10\] \(40 bytes\) at offsets 0..4"),
    (header_file(json.dumps({"head.bias": {"dtype": "F32", "shape": "ten", "data_offsets": [0, 40]}}).encode()),
     r"'head.bias'.shape must be a list"),
    (b"\x01\x02", r"corrupt or truncated \(2 bytes"),
])
def test_garbage_weights_are_refused_by_their_header(folder, name, content, message):
    (folder / name).write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load(folder, name == EXPORTED_NAME)


@pytest.mark.parametrize("name", [WEIGHTS_NAME, EXPORTED_NAME])
def test_a_truncated_file_is_refused_before_it_is_hashed(folder, name, monkeypatch):
    import zoo.files

    monkeypatch.setattr(zoo.files, "sha256_file", lambda path: pytest.fail("hashed a file of the wrong size"))
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[:-100])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load(folder, name == EXPORTED_NAME)
    (folder / name).unlink()
    with pytest.raises(FileNotFoundError):
        load(folder, name == EXPORTED_NAME)


def test_a_spec_whose_layers_do_not_chain_is_refused_even_with_matching_tensors(folder):
    """A stranger controls the spec and the tensors alike: both agree, but the layers cannot run one after another."""
    layers = [["conv", 1, 4, 3], ["elu"], ["conv", 5, 4, 3]]
    state = {"features.0.weight": torch.zeros(4, 1, 3, 3), "features.0.bias": torch.zeros(4),
             "features.2.weight": torch.zeros(4, 5, 3, 3), "features.2.bias": torch.zeros(4),
             "group_pool.grid": torch.zeros(0), "head.weight": torch.zeros(10, 4), "head.bias": torch.zeros(10)}
    edit(folder, lambda c: c["export"].update(layers=layers, group_pool=[1, 0], head=[4, 10]))
    rewrite_weights(folder, EXPORTED_NAME, state)
    with pytest.raises(ValueError, match=r"export.layers\[2\] \(conv\) takes 5 channels, the layers before it give 4"):
        load(folder, True)


# --------------------------------------------------------------------------------------- hostile repositories --

@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A loopback Hub serving the repositories the test adds to ``hub.repos``, into an empty cache."""
    import huggingface_hub.constants as constants

    with HubServer({}) as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            server.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
        yield server


def downloaded(hub) -> set[str]:
    """The files whose bytes the server sent."""
    return {name for (_, name), n in hub.sent.items() if n}


@pytest.mark.parametrize("export", [False, True], ids=["escnn", "export"])
def test_a_hostile_repository_is_refused_before_its_weights_are_downloaded(hub, folder, export):
    edit(folder, arch(so2_grid_size=5_000_000))
    edit(folder, lambda c: c["export"]["layers"][0].__setitem__(2, 300_000))
    hub.repos["evil/grid"] = (folder, set())
    with pytest.raises(ValueError, match=r"config.json: architecture.so2_grid_size must be a positive int up to 256"):
        from_pretrained("evil/grid", export=export)
    assert downloaded(hub) == {CONFIG_NAME}


def test_a_repository_s_oversized_files_are_refused_before_they_are_downloaded(hub, folder):
    config = json.loads((folder / CONFIG_NAME).read_text())
    (folder / CONFIG_NAME).write_text(json.dumps({**config, "protocol": "x" * 2_000_000}))
    hub.repos["evil/big-config"] = (folder, set())
    with pytest.raises(ValueError, match=r"config.json is 2,\d{3},\d{3} bytes, more than the 1,048,576 .* not downloaded"):
        from_pretrained("evil/big-config")
    assert downloaded(hub) == set()
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with open(folder / WEIGHTS_NAME, "r+b") as f:
        f.truncate(100_000_000)  # sparse
    with pytest.raises(ValueError, match=r"model.safetensors is 100,000,000 bytes, more than the .* not downloaded"):
        from_pretrained("evil/big-config")
    assert downloaded(hub) == {CONFIG_NAME}
