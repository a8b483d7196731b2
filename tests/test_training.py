"""`relulint.training`: training scripts (AST), targets files (streamed), `[tool.relulint.training]`, merging."""

from __future__ import annotations

import inspect
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from relulint import training as tr
from relulint.errors import ConfigError, DataError, UsageError
from relulint.options import Options
from relulint.records.model_facts import TrainingFacts

# ------------------------------------------------------------------------------------- training scripts

SCRIPT = """\
import torch
import torch.optim as optim
import torch as th
from torch import optim as o2
from torch.optim import SGD as S, AdamW
from torch.optim.sgd import SGD

LR = 0.1
a = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
b = optim.Adam(model.parameters(), betas=(0.8, 0.99))
c = S(model.parameters(), LR, 0.9, nesterov=True)
d = th.optim.RMSprop(model.parameters(), lr=1e-3, momentum=0.5, **extra)
e = AdamW(model.parameters(), 1e-4, [0.95, 0.999])
f = o2.SGD(model.parameters(), lr=-1e-2 * 2, momentum=0.9, dampening=0.5)
g = SGD(params)
h = torch.nn.Linear(3, 3)
"""


@pytest.fixture
def calls(tmp_path: Path) -> list[tr.OptimizerCall]:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    return tr.scan_training_script(script, display="train.py")


def test_scan_finds_every_spelling_at_its_line(calls) -> None:
    assert [(c.optimizer, c.location.line) for c in calls] == [
        ("sgd", 9),
        ("adam", 10),
        ("sgd", 11),
        ("rmsprop", 12),
        ("adamw", 13),
        ("sgd", 14),
        ("sgd", 15),
    ]
    assert all(c.location.path == "train.py" for c in calls)


def test_scan_reads_literals_and_defaults(calls) -> None:
    sgd, adam, _, _, adamw, _, bare = calls
    assert sgd.args == {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "nesterov": False}
    assert sgd.given == ("lr", "momentum")
    assert adam.args == {"lr": 1e-3, "betas": (0.8, 0.99)}  # lr: PyTorch's default
    assert adamw.args["lr"] == 1e-4 and adamw.args["betas"] == (0.95, 0.999)  # positional, list literal
    assert bare.args == {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "nesterov": False}


def test_scan_records_unknown_values_and_never_guesses(calls) -> None:
    named_constant, kwargs, expression = calls[2], calls[3], calls[5]
    assert named_constant.args["lr"] is tr.UNKNOWN and named_constant.args["momentum"] == 0.9
    assert named_constant.unknown == ("lr",)
    assert kwargs.args["lr"] == 1e-3 and kwargs.args["momentum"] == 0.5  # written explicitly
    assert expression.args["lr"] is tr.UNKNOWN and expression.args["dampening"] == 0.5
    assert "lr=unknown" in named_constant.describe()


def test_scan_with_star_kwargs_marks_absent_arguments_unknown(tmp_path: Path) -> None:
    script = tmp_path / "t.py"
    script.write_text("import torch\nopt = torch.optim.SGD(p, lr=0.1, **cfg)\n")
    (call,) = tr.scan_training_script(script)
    assert call.args["lr"] == 0.1 and call.args["momentum"] is tr.UNKNOWN


def test_optimizer_signatures_match_torch() -> None:
    classes = {name: getattr(torch.optim, cls) for cls, name in tr._CLASS_NAMES.items()}
    for name, (positional, defaults) in tr.OPTIMIZER_SIGNATURES.items():
        params = list(inspect.signature(classes[name].__init__).parameters.values())[2:]  # self, params
        ordered = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        assert tuple(ordered[: len(positional)]) == positional, name
        signature = {p.name: p.default for p in params}
        for key, value in defaults.items():
            assert signature[key] == value, (name, key)


def test_scan_bad_script_is_a_data_error(tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("def f(:\n")
    with pytest.raises(DataError, match="broken.py:1"):
        tr.scan_training_script(script)


# ---------------------------------------------------------------------------------------- targets files


@pytest.fixture
def y() -> np.ndarray:
    return np.random.default_rng(0).normal(3.0, 0.05, size=2_345)


@pytest.fixture(params=[7, 1 << 20], ids=["tiny-chunks", "default-chunks"])
def chunk(request, monkeypatch) -> int:
    monkeypatch.setattr(tr, "CHUNK", request.param)
    return request.param


def test_npy(tmp_path: Path, y, chunk) -> None:
    np.save(tmp_path / "y.npy", y.astype(np.float32))
    assert tr.target_std("y.npy", tmp_path) == pytest.approx(y.astype(np.float32).std(), rel=1e-6)


def test_npy_multi_output_gives_the_smallest_std_c_and_fortran_order(tmp_path: Path, y, chunk) -> None:
    stacked = np.stack([y * 10, y, y * 3], axis=1)
    np.save(tmp_path / "c.npy", stacked)
    np.save(tmp_path / "f.npy", np.asfortranarray(stacked))
    for name in ("c.npy", "f.npy"):
        assert tr.target_stats(name, tmp_path) == pytest.approx(list(stacked.std(axis=0)), rel=1e-9)
        assert tr.target_std(name, tmp_path) == pytest.approx(y.std(), rel=1e-9)


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_member_by_key(tmp_path: Path, y, chunk, save) -> None:
    save(tmp_path / "d.npz", y=y, x=np.arange(10.0))
    assert tr.target_std("d.npz:y", tmp_path) == pytest.approx(y.std(), rel=1e-9)
    save(tmp_path / "one.npz", targets=y)
    assert tr.target_std("one.npz", tmp_path) == pytest.approx(y.std(), rel=1e-9)


def test_pt_tensor_and_dict(tmp_path: Path, y, chunk) -> None:
    torch.save(torch.from_numpy(y), tmp_path / "y.pt")
    torch.save({"y": torch.from_numpy(y).reshape(-1, 1), "x": torch.zeros(3)}, tmp_path / "d.pt")
    assert tr.target_std("y.pt", tmp_path) == pytest.approx(y.std(), rel=1e-9)
    assert tr.target_std("d.pt:y", tmp_path) == pytest.approx(y.std(), rel=1e-9)


def test_csv_column_by_name_and_index(tmp_path: Path, y, chunk) -> None:
    lines = ["id,target"] + [f"{i},{float(v)!r}" for i, v in enumerate(y)]
    (tmp_path / "y.csv").write_text("\n".join(lines) + "\n")
    assert tr.target_std("y.csv:target", tmp_path) == pytest.approx(y.std(), rel=1e-9)
    assert tr.target_std("y.csv:1", tmp_path) == pytest.approx(y.std(), rel=1e-9)


def test_csv_non_numeric_names_row_and_column(tmp_path: Path) -> None:
    (tmp_path / "y.csv").write_text("id,y\n1,0.5\n2,abc\n")
    with pytest.raises(DataError) as info:
        tr.target_std("y.csv:y", tmp_path)
    assert "row 3" in info.value.message and "'y'" in info.value.message and "\n" not in info.value.message
    assert info.value.hint


@pytest.mark.parametrize(
    ("name", "content", "spec", "match"),
    [
        ("d.npz", None, "d.npz:nope", "no array 'nope'"),
        ("d.npz", None, "d.npz", "holds 2 arrays"),
        ("y.csv", "a,b\n1,2\n", "y.csv:c", "no column 'c'"),
        ("y.csv", "a,b\n1,2\n", "y.csv", "2 columns"),
        ("bad.npy", b"not an npy file", "bad.npy", "cannot read|targets file"),
        ("bad.pt", b"garbage", "bad.pt", "cannot load"),
        ("y.txt", "1\n2\n", "y.txt", "unsupported format"),
        ("empty.csv", "y\n", "empty.csv", "no values"),
    ],
)
def test_bad_targets_files_are_one_line_data_errors(tmp_path: Path, name, content, spec, match) -> None:
    if name == "d.npz":
        np.savez(tmp_path / name, a=np.ones(3), b=np.ones(3))
    elif isinstance(content, bytes):
        (tmp_path / name).write_bytes(content)
    else:
        (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=match) as info:
        tr.target_std(spec, tmp_path)
    assert "\n" not in info.value.message and info.value.hint


def test_missing_and_truncated_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        tr.target_std("missing.npy", tmp_path)
    np.save(tmp_path / "y.npy", np.arange(1000.0))
    data = (tmp_path / "y.npy").read_bytes()
    (tmp_path / "y.npy").write_bytes(data[:-100])
    with pytest.raises(DataError, match="truncated"):
        tr.target_std("y.npy", tmp_path)


def test_non_numeric_npy_and_nan(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(DataError, match="not numeric"):
        tr.target_std("s.npy", tmp_path)
    np.save(tmp_path / "n.npy", np.array([1.0, np.nan]))
    with pytest.raises(DataError, match="non-finite"):
        tr.target_std("n.npy", tmp_path)


def test_npz_is_streamed_not_loaded(tmp_path: Path, y, monkeypatch) -> None:
    """The member is decompressed chunk by chunk: np.load is never used, reads are bounded by CHUNK."""
    np.savez_compressed(tmp_path / "d.npz", y=np.tile(y, 20))
    monkeypatch.setattr(tr, "CHUNK", 1000)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load must not be called"))
    sizes: list[int] = []
    original = zipfile.ZipExtFile.read

    def read(self, n=-1):
        sizes.append(n)
        return original(self, n)

    monkeypatch.setattr(zipfile.ZipExtFile, "read", read)
    assert tr.target_std("d.npz:y", tmp_path) == pytest.approx(np.tile(y, 20).std(), rel=1e-9)
    assert max(sizes) <= 1000 * 8


# ------------------------------------------------------------------------------------------ config table


def test_config_table(tmp_path: Path) -> None:
    facts, targets = tr.training_from_config(
        {"optimizer": "SGD", "lr": 0.1, "momentum": 0.9, "nesterov": False, "dampening": 0.0}, tmp_path
    )
    assert (facts.optimizer, facts.lr, facts.momentum, facts.nesterov) == ("sgd", 0.1, 0.9, False)
    assert targets is None
    facts, targets = tr.training_from_config({"targets": "data/y.csv:y", "betas": [0.9, 0.99]}, tmp_path)
    assert targets == f"{(tmp_path / 'data' / 'y.csv').resolve()}:y"
    assert facts.betas == (0.9, 0.99)
    facts, _ = tr.training_from_config({"target-std": 0.01}, tmp_path)
    assert facts.target_std == 0.01 and "target-std" in (facts.target_source or "")


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"learning-rate": 0.1}, "learning-rate"),
        ({"lr": "0.1"}, "lr"),
        ({"lr": True}, "lr"),
        ({"lr": 0}, "lr"),
        ({"momentum": 1.5}, "momentum"),
        ({"betas": [0.9]}, "betas"),
        ({"nesterov": "yes"}, "nesterov"),
        ({"optimizer": "Adamm"}, "optimizer"),
        ({"optimizer": 3}, "optimizer"),
        ({"targets": 3}, "targets"),
        ({"target-std": -1}, "target-std"),
        ({"target-std": 0.1, "targets": "y.npy"}, "target-std"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, table, key) -> None:
    with pytest.raises(ConfigError) as info:
        tr.training_from_config(table, tmp_path)
    assert key in info.value.message and info.value.hint
    assert "[tool.relulint.training]" in info.value.message


def test_config_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        tr.training_from_config({"target_std": 0.1}, tmp_path)
    assert "target-std" in (info.value.hint or "")


# ----------------------------------------------------------------------------------------------- merge


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_gather_from_script(tmp_path: Path) -> None:
    write(
        tmp_path / "train.py",
        "import torch\n\nopt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)\n",
    )
    facts = tr.gather_training_facts(Options(scripts=("train.py",)), tmp_path)
    assert (facts.optimizer, facts.lr, facts.momentum, facts.dampening, facts.nesterov) == (
        "sgd",
        0.05,
        0.9,
        0.0,
        False,
    )
    assert (facts.location.path, facts.location.line) == ("train.py", 3)
    assert any("train.py:3" in note for note in facts.notes)


def test_explicit_values_win_over_the_script(tmp_path: Path) -> None:
    write(tmp_path / "train.py", "from torch.optim import SGD\nopt = SGD(p, lr=0.05, momentum=0.9)\n")
    explicit = TrainingFacts(lr=0.2)
    facts = tr.gather_training_facts(Options(training=explicit, scripts=("train.py",)), tmp_path)
    assert facts.lr == 0.2 and facts.momentum == 0.9 and facts.location.line == 2
    assert any("overrides" in note for note in facts.notes)
    other = TrainingFacts(optimizer="adam", lr=1e-3)
    facts = tr.gather_training_facts(Options(training=other, scripts=("train.py",)), tmp_path)
    assert facts.optimizer == "adam" and facts.momentum is None and facts.location is None


def test_unknown_script_values_stay_unknown(tmp_path: Path) -> None:
    write(tmp_path / "train.py", "import torch\nopt = torch.optim.SGD(p, lr=args.lr, momentum=0.9)\n")
    facts = tr.gather_training_facts(Options(scripts=("train.py",)), tmp_path)
    assert facts.lr is None and facts.momentum == 0.9
    assert any("lr at train.py:2 is not a literal: unknown" in note for note in facts.notes)


def test_targets_file_and_precedence(tmp_path: Path, y) -> None:
    np.save(tmp_path / "y.npy", y)
    from_config = TrainingFacts(target_std=0.5, target_source="[tool.relulint.training] target-std")
    facts = tr.gather_training_facts(Options(training=from_config, targets_file="y.npy"), tmp_path)
    assert facts.target_std == pytest.approx(y.std()) and facts.target_source == "y.npy"
    from_cli = TrainingFacts(target_std=0.5, target_source="--target-std")
    facts = tr.gather_training_facts(Options(training=from_cli, targets_file="y.npy"), tmp_path)
    assert facts.target_std == 0.5


def test_missing_script_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        tr.gather_training_facts(Options(scripts=("nope.py",)), tmp_path)


def test_script_values_record_where_they_came_from(tmp_path: Path) -> None:
    write(tmp_path / "train.py", "import torch\nopt = torch.optim.SGD(p, lr=args.lr, momentum=0.9)\n")
    facts = tr.gather_training_facts(Options(scripts=("train.py",)), tmp_path)
    assert dict(facts.sources) == {
        "optimizer": "script",
        "lr": "unknown",
        "momentum": "script",
        "dampening": "default",
        "nesterov": "default",
    }
    assert tr.is_unknown(facts, "lr") and not tr.is_unknown(facts, "momentum")
    write(tmp_path / "train.py", "import torch\nopt = torch.optim.SGD(p, lr=0.1, **kw)\n")
    facts = tr.gather_training_facts(Options(scripts=("train.py",)), tmp_path)
    assert tr.source_of(facts, "momentum") == "unknown-starred" and facts.momentum is None
    assert tr.source_of(facts, "lr") == "script"


# ------------------------------------------------------------------------------------ command line


@pytest.mark.parametrize(
    ("values", "flag"),
    [
        ({"momentum": 1.0}, "--momentum"),
        ({"momentum": 1.5}, "--momentum"),
        ({"momentum": -0.1}, "--momentum"),
        ({"momentum": float("nan")}, "--momentum"),
        ({"lr": 0.0}, "--lr"),
        ({"lr": -0.1}, "--lr"),
        ({"lr": float("inf")}, "--lr"),
        ({"target_std": -1.0}, "--target-std"),
        ({"optimizer": "sgdd"}, "--optimizer"),
        ({"optimizer": "torch.optim.Foo"}, "--optimizer"),
    ],
)
def test_cli_values_are_validated_like_the_config(values, flag) -> None:
    with pytest.raises(UsageError) as info:
        tr.validate_cli_training(values)
    error = info.value
    assert not isinstance(error, ConfigError)
    assert error.message.startswith(flag) and "\n" not in error.message and error.hint
    assert flag.split()[0] in error.hint or "one of" in error.hint
    # the config rejects the same value, through the same validator
    key = {"--target-std": "target-std"}.get(flag, flag[2:])
    with pytest.raises(ConfigError):
        tr.training_from_config({key: next(iter(values.values()))}, Path("."))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sgd", "sgd"),
        ("SGD", "sgd"),
        ("Adam", "adam"),
        ("ADAMW", "adamw"),
        ("rmsprop", "rmsprop"),
        ("torch.optim.SGD", "sgd"),
        ("torch.optim.AdamW", "adamw"),
    ],
)
def test_cli_optimizer_names(name: str, expected: str) -> None:
    assert tr.validate_cli_training({"optimizer": name})["optimizer"] == expected


def test_cli_values_are_marked_as_coming_from_the_command_line() -> None:
    values = {"target_std": 0.01, "optimizer": "Adam", "lr": 1e-3, "momentum": 0.5, "seed": 3, "lr2": None}
    out = tr.validate_cli_training(values)
    assert out == {
        "target_std": 0.01,
        "target_source": "--target-std",
        "optimizer": "adam",
        "lr": 1e-3,
        "momentum": 0.5,
        "sources": (("optimizer", "cli"), ("lr", "cli"), ("momentum", "cli")),
    }
    assert tr.validate_cli_training({}) == {}
    assert tr.validate_cli_training({"lr": None, "momentum": None}) == {}


def test_cli_momentum_is_adams_beta1_over_configured_betas(tmp_path: Path) -> None:
    """`--momentum` is documented as "Momentum (SGD, RMSprop) or Adam's beta1": it wins over config betas."""
    config, _ = tr.training_from_config({"optimizer": "Adam", "lr": 1e-3, "betas": [0.9, 0.999]}, tmp_path)
    cli = tr.validate_cli_training({"momentum": 0.5})
    merged = tr.merge_cli_training(config, cli)
    assert merged.betas == (0.5, 0.999) and tr.source_of(merged, "betas") == "cli"
    assert any("--momentum overrides betas=(0.9, 0.999)" in note for note in merged.notes)
    # the CLI's plain field-wise merge (TrainingFacts(**{**config, **cli})) resolves the same way
    naive = TrainingFacts(**{**config.__dict__, **cli})
    assert tr.resolve_beta1(naive).betas == (0.5, 0.999)
    # without --momentum the configured betas stand; resolve_beta1 is idempotent
    assert tr.merge_cli_training(config, {}).betas == (0.9, 0.999)
    assert tr.resolve_beta1(tr.resolve_beta1(merged)) == merged


def test_cli_values_override_config_values(tmp_path: Path) -> None:
    config, _ = tr.training_from_config({"optimizer": "SGD", "lr": 0.1, "momentum": 0.9}, tmp_path)
    merged = tr.merge_cli_training(config, tr.validate_cli_training({"lr": 0.01}))
    assert (merged.lr, merged.momentum) == (0.01, 0.9)
    assert dict(merged.sources) == {"optimizer": "config", "lr": "cli", "momentum": "config"}
    assert any("overrides lr=0.1" in note for note in merged.notes)


ADAM_SCRIPT = "import torch\nopt = torch.optim.Adam(p, lr=1e-3, betas=(0.8, 0.99))\n"


@pytest.mark.parametrize(
    ("config", "cli", "beta1", "source"),
    [
        ({}, {}, 0.8, "script"),  # the script alone
        ({"betas": [0.7, 0.999]}, {}, 0.7, "config"),  # config betas > script betas
        ({"momentum": 0.6}, {}, 0.6, "config"),  # config momentum (no config betas) > script betas
        ({"momentum": 0.6, "betas": [0.7, 0.999]}, {}, 0.7, "config"),  # config betas > config momentum
        ({}, {"momentum": 0.5}, 0.5, "cli"),  # --momentum > script betas
        ({"betas": [0.7, 0.999]}, {"momentum": 0.5}, 0.5, "cli"),  # --momentum > config betas
    ],
)
def test_beta1_precedence_cli_over_config_over_script(tmp_path: Path, config, cli, beta1, source) -> None:
    write(tmp_path / "train.py", ADAM_SCRIPT)
    explicit, _ = tr.training_from_config(config, tmp_path)
    explicit = tr.merge_cli_training(explicit, tr.validate_cli_training(cli))
    facts = tr.gather_training_facts(Options(training=explicit, scripts=("train.py",)), tmp_path)
    assert facts.optimizer == "adam" and facts.betas[0] == beta1
    assert tr.source_of(facts, "betas") == source
    assert facts.location is not None and facts.location.line == 2


def test_cli_momentum_resolves_a_non_literal_betas(tmp_path: Path) -> None:
    write(
        tmp_path / "train.py", "import torch\nbetas = (0.5, 0.999)\nopt = torch.optim.Adam(p, betas=betas)\n"
    )
    facts = tr.gather_training_facts(Options(scripts=("train.py",)), tmp_path)
    assert facts.betas is None and tr.is_unknown(facts, "betas")  # never PyTorch's 0.9
    cli = tr.merge_cli_training(TrainingFacts(), tr.validate_cli_training({"momentum": 0.5}))
    facts = tr.gather_training_facts(Options(training=cli, scripts=("train.py",)), tmp_path)
    assert facts.betas == (0.5, 0.999) and tr.source_of(facts, "betas") == "cli"
