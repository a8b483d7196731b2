"""Example inputs built from `forward`'s signature and fitted to the layers (issue 11, "Silent misses").

Each model in `fixtures/capture/operators.py` breaks torch.fx and used to break the one-example-tensor
fallback too (several arguments of different widths, a list or tuple argument, token ids, a dict batch,
4-D images), which ended in "no ReLU chain", exit 0. Through the real command line, json checked: the
chains' widths and depth, the RL101 finding, and the example input the capture says it used.
"""

from __future__ import annotations

import textwrap

import pytest
from helpers_capture import chains_of, summary
from helpers_cli_json import FIXTURES, chains, check_json, codes, finding
from torch import nn

import relulint
from relulint.errors import UsageError
from relulint.target import parse_input_dtypes, parse_input_shapes, parse_target

OPERATORS = str(FIXTURES / "operators.py")
LAZY = str(FIXTURES / "lazy.py")


def thm8(width: int, depth: int) -> float:
    """`collapse` Thm 8's bound for `depth` ReLU layers of `width` units, computed here independently."""
    return 1 - (1 - 2.0**-width) ** depth


@pytest.fixture(scope="module")
def operators():
    """One `relulint check operators.py` run: every model of the file (FNN needs arguments: skipped)."""
    run = check_json(OPERATORS)
    assert run.exit_code == 1, run.stderr
    return run


def hooks_input(target: dict) -> str:
    assert target["capture"]["method"] == "hooks", target["capture"]
    reason = target["capture"]["reason"]
    return reason[reason.index("(example input: ") :]


# ------------------------------------------------------------------------------- inferred inputs


def test_deeponet_branch_and_trunk_each_get_their_width(operators) -> None:
    target = operators.target("DeepONet")
    assert hooks_input(target) == "(example input: branch_in: (8, 20), trunk_in: (8, 2), torch.randn)"
    assert chains(target) == [(20, [8] * 12, 8), (2, [8] * 12, 8)]
    assert [c["depth"] for c in target["chains"]] == [12, 12]
    rl101 = [f for f in target["findings"] if f["code"] == "RL101"]
    assert sorted(f["chain"] for f in rl101) == [0, 1]
    assert target["chains"][0]["p_upper"] == pytest.approx(thm8(8, 12))


def test_deeponet_with_one_tuple_argument(operators) -> None:
    target = operators.target("TupleDeepONet")
    assert hooks_input(target) == "(example input: inputs: list of (8, 20), (8, 2), torch.randn)"
    assert chains(target) == [(20, [8] * 12, 8), (2, [8] * 12, 8)]
    assert codes(target).count("RL101") == 2


def test_pinn_with_a_list_argument_concatenated_with_time(operators) -> None:
    target = operators.target("ListPINN")
    assert hooks_input(target) == "(example input: spatial: list of 2 × (8, 1), t: (8, 1), torch.randn)"
    assert chains(target) == [(3, [8] * 12, 1)]
    assert finding(target, "RL101")["severity"] in ("warning", "error")
    assert target["chains"][0]["p_upper"] == pytest.approx(thm8(8, 12))


def test_token_ids_for_an_embedding_shorter_than_the_position_table(operators) -> None:
    target = operators.target("TokenFFN")
    # integer ids below the vocabulary; 12 positions: the position table has 12 rows
    assert hooks_input(target) == "(example input: idx: (8, 12) int64, torch.randn and torch.randint)"
    assert chains(target) == [(8, [8] * 10, 100)]
    assert "RL101" in codes(target)


def test_gpt_style_tokens_within_the_block_size(operators) -> None:
    target = operators.target("TinyGPT")
    assert "idx: (8, 1) int64" in hooks_input(target)
    assert (4, [4] * 10, 50) in chains(target)
    assert "RL101" in codes(target)


def test_untyped_sequence_argument_found_by_the_error(operators) -> None:
    target = operators.target("StackedInputs")
    assert hooks_input(target) == "(example input: xs: list of 2 × (8, 4), torch.randn)"
    assert chains(target) == [(4, [4] * 10, 1)]


def test_dict_batch_with_numeric_and_categorical_features(operators) -> None:
    target = operators.target("DictTabular")
    assert hooks_input(target) == (
        "(example input: batch: dict {num: (8, 5), cat: (8, 1) int64}, torch.randn and torch.randint)"
    )
    assert chains(target) == [(8, [6] * 10, 1)]
    assert "RL101" in codes(target)


def test_image_input_sized_by_the_flatten_into_the_head(operators) -> None:
    """The head is registered first; the conv's image is tried, then scaled 32 → 28 to fit 4·7·7."""
    target = operators.target("CNNHead")
    assert hooks_input(target) == "(example input: shape (8, 1, 28, 28), torch.randn)"
    assert chains(target) == [(196, [6] * 11, 10)]
    assert "RL101" in codes(target)


# ------------------------------------------------------------------ forward that cannot run at all


def test_forward_raising_on_every_input_is_a_warning_with_the_users_error(operators) -> None:
    target = operators.target("NeedsConfig")
    assert target["capture"]["method"] == "registration"
    rl902 = finding(target, "RL902")
    assert rl902["severity"] == "warning"
    message = rl902["message"]
    assert "the verdict is incomplete" in message
    assert "AttributeError: 'Tensor' object has no attribute 'depth'" in message
    assert "--input-shape x=8,N --input-shape config=8,N" in message
    # the F.relu in forward's loop is read from the source: the chain is still judged
    assert chains(target) == [(2, [8] * 12, 1)]
    assert "RL101" in codes(target) and "RL901" not in codes(target)


def test_model_without_forward_reads_the_methods_that_use_the_layers(operators) -> None:
    target = operators.target("NoForward")
    assert "10 functional ReLUs read from the source" in target["capture"]["reason"]
    assert chains(target) == [(2, [6] * 10, 1)]
    assert "no forward" in finding(target, "RL902")["message"]


# ----------------------------------------------------------------------- inputs given by the user


def test_input_shape_per_argument_on_the_command_line() -> None:
    run = check_json(
        f"{OPERATORS}:DeepONet", "--input-shape", "branch_in=4,20", "--input-shape", "trunk_in=4,2"
    )
    target = run.target("DeepONet")
    assert hooks_input(target) == "(example input: branch_in: (4, 20), trunk_in: (4, 2), torch.randn)"
    assert chains(target) == [(20, [8] * 12, 8), (2, [8] * 12, 8)]


def test_a_given_shape_is_never_changed_and_a_wrong_one_is_reported() -> None:
    run = check_json(
        f"{OPERATORS}:DeepONet", "--input-shape", "branch_in=4,3", "--input-shape", "trunk_in=4,2"
    )
    message = finding(run.target("DeepONet"), "RL902")["message"]
    assert (
        "branch_in: (4, 3)" in message
        and "RuntimeError: mat1 and mat2 shapes cannot be multiplied" in message
    )


def test_input_dtype_on_the_command_line() -> None:
    run = check_json(f"{OPERATORS}:TokenFFN", "--input-shape", "2,5", "--input-dtype", "long")
    target = run.target("TokenFFN")
    assert hooks_input(target) == "(example input: idx: (2, 5) int64, torch.randn and torch.randint)"
    assert chains(target) == [(8, [8] * 10, 100)]


def test_python_api_keywords() -> None:
    report = relulint.check(f"{OPERATORS}:DeepONet", input_shape={"branch_in": (4, 20), "trunk_in": (4, 2)})
    (target,) = report.targets
    assert "branch_in: (4, 20), trunk_in: (4, 2)" in target.facts.capture_reason
    report = relulint.check(f"{OPERATORS}:TokenFFN", input_shape=(2, 5), input_dtype="long")
    assert "idx: (2, 5) int64" in report.targets[0].facts.capture_reason


def test_config_input_shape_table_and_target_table(tmp_path, monkeypatch) -> None:
    (tmp_path / "operators.py").write_text((FIXTURES / "operators.py").read_text(), encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [tool.relulint]
            targets = [
                { target = "operators.py:DeepONet", input-shape = { branch_in = [3, 20], trunk_in = [3, 2] } },
                { target = "operators.py:TokenFFN", input-shape = [2, 4], input-dtype = "long" },
            ]
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    run = check_json()
    assert "branch_in: (3, 20), trunk_in: (3, 2)" in run.target("DeepONet")["capture"]["reason"]
    assert "idx: (2, 4) int64" in run.target("TokenFFN")["capture"]["reason"]


def test_parse_input_shapes_and_dtypes() -> None:
    assert parse_input_shapes(["8,1"]) == (8, 1)
    assert parse_input_shapes(["x=8,1", "t=8,1"]) == {"x": (8, 1), "t": (8, 1)}
    assert parse_input_dtypes(["long"]) == "int64"
    assert parse_input_dtypes(["ids=long", "mask=bool"]) == {"ids": "int64", "mask": "bool"}
    target = parse_target(OPERATORS, input_shape={"x": [8, 1]}, input_dtype={"x": "double"})
    assert target.input_shape == {"x": (8, 1)} and target.input_dtype == {"x": "float64"}


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        (["8,1", "8,2"], "without argument names"),
        (["x=8,1", "8,2"], "name every value"),
        (["x=8,1", "x=8,2"], "named twice"),
        (["1x=8,1"], "not the name of a forward argument"),
        (["x=8,0"], "positive integers"),
    ],
)
def test_bad_input_shapes_are_usage_errors(values: list[str], needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        parse_input_shapes(values)


def test_bad_input_dtype_on_the_command_line_exits_2_with_a_hint() -> None:
    run = check_json(f"{OPERATORS}:TokenFFN", "--input-dtype", "complex")
    assert run.exit_code == 2
    assert "--input-dtype must be a dtype name" in run.stderr and "got 'complex'" in run.stderr
    assert "hint:" in run.stderr
    assert "Traceback" not in run.stderr


# ------------------------------------------------------------------------------------ lazy modules


def test_lazy_linear_without_an_input_shape_asks_for_one() -> None:
    run = check_json(f"{LAZY}:LazyMLP")
    assert run.exit_code == 2 and run.document is None
    assert "lazy modules" in run.stderr and "hint: --input-shape 8,16" in run.stderr
    assert "Traceback" not in run.stderr


def test_lazy_linear_is_materialised_by_the_example_forward() -> None:
    run = check_json(f"{LAZY}:LazyMLP", "--input-shape", "8,3")
    target = run.target("LazyMLP")
    assert chains(target) == [(3, [6] * 10, 1)]
    assert target["chains"][0]["p_upper"] == pytest.approx(thm8(6, 10))
    assert "RL101" in codes(target)


def test_config_global_input_shape_table_and_bad_dtype(tmp_path, monkeypatch) -> None:
    (tmp_path / "operators.py").write_text((FIXTURES / "operators.py").read_text(), encoding="utf-8")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[tool.relulint]\ninput-shape = { branch_in = [5, 20], trunk_in = [5, 2] }\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    run = check_json("operators.py:DeepONet")
    assert "branch_in: (5, 20), trunk_in: (5, 2)" in run.target("DeepONet")["capture"]["reason"]
    pyproject.write_text('[tool.relulint]\ninput-dtype = "complex"\n', encoding="utf-8")
    bad = check_json("operators.py:DeepONet")
    assert bad.exit_code == 2 and "'input-dtype' must be a dtype name" in bad.stderr


def test_lazy_layer_after_a_sized_first_layer_needs_no_flag() -> None:
    model = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.LazyLinear(6), nn.ReLU(), nn.Linear(6, 1))
    _, found = chains_of(model)
    assert summary(found) == [(3, (6, 6), 1, "output")]
