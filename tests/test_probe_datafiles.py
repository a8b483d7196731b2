"""`relulint.datafiles`: the one reader of data files, for the probe's ``--data`` and the training targets.

Every figure is checked against numpy computing the same thing on the whole array in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from relulint.datafiles import ChunkedMoments, array_moments, load_probe_data, row_chunks
from relulint.errors import DataError


@pytest.fixture
def table() -> np.ndarray:
    return np.random.default_rng(1).normal(2.0, [0.5, 3.0, 0.01], size=(1_001, 3))


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_chunked_moments_match_numpy_whatever_the_block_size(table: np.ndarray, chunk: int) -> None:
    moments = ChunkedMoments()
    step = max(1, chunk // 3)
    for start in range(0, len(table), step):
        moments.update(table[start : start + step])
    assert moments.n == len(table)
    np.testing.assert_allclose(moments.stds(), table.std(axis=0), rtol=1e-12)


def test_npy_is_memory_mapped(tmp_path: Path, table: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    np.save(tmp_path / "t.npy", table)
    calls: list[dict[str, object]] = []
    original = np.load

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    moments = array_moments(tmp_path / "t.npy", None, "t.npy", chunk=300)
    assert calls and all(c.get("mmap_mode") == "r" for c in calls)
    np.testing.assert_allclose(moments.stds(), table.std(axis=0), rtol=1e-12)


@pytest.mark.parametrize("order", ["C", "F"])
def test_trailing_dimensions_are_flattened_in_c_order(tmp_path: Path, order: str) -> None:
    images = np.random.default_rng(2).normal(size=(40, 3, 5))
    np.save(tmp_path / "x.npy", np.asarray(images, order=order))
    np.savez(tmp_path / "x.npz", x=np.asarray(images, order=order))
    for name in ("x.npy", "x.npz"):
        blocks = list(row_chunks(tmp_path / name, None, name, chunk=45))
        assert len(blocks) > 1  # read in blocks of whole rows
        np.testing.assert_array_equal(np.concatenate(blocks), images.reshape(40, 15))
        np.testing.assert_array_equal(load_probe_data(tmp_path / name), images.reshape(40, 15))


def test_probe_data_from_every_format(tmp_path: Path) -> None:
    x = np.array([[0.5, -1.0], [1.5, 2.0], [-0.25, 0.0]])
    np.savez_compressed(tmp_path / "d.npz", inputs=x)
    torch.save((torch.tensor(x), torch.zeros(3)), tmp_path / "pair.pt")
    torch.save(torch.tensor(x, dtype=torch.bfloat16), tmp_path / "half.pt")
    (tmp_path / "plain.csv").write_text("0.5,-1.0\n\n1.5,2.0\n-0.25,0\n")
    for name in ("d.npz", "pair.pt", "plain.csv"):
        np.testing.assert_array_equal(load_probe_data(tmp_path / name), x)
    # bf16 values are read exactly (every value here is a bf16 number)
    np.testing.assert_array_equal(load_probe_data(tmp_path / "half.pt"), x)


def test_truncated_and_foreign_files_are_data_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "y.npy", np.arange(1000.0))
    data = (tmp_path / "y.npy").read_bytes()
    (tmp_path / "y.npy").write_bytes(data[:-100])
    (tmp_path / "z.npy").write_bytes(b"not an array")
    with pytest.raises(DataError, match="truncated"):
        load_probe_data(tmp_path / "y.npy")
    with pytest.raises(DataError, match="not a .npy file"):
        load_probe_data(tmp_path / "z.npy")
    with pytest.raises(DataError, match="holds 2 arrays"):
        np.savez(tmp_path / "two.npz", a=np.ones(2), b=np.ones(2))
        load_probe_data(tmp_path / "two.npz")


def test_csv_columns_by_name_index_or_all(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id,y\n1,0.5\n2,1.5\n,\n3,-1\n")
    path = tmp_path / "t.csv"
    by_name = np.concatenate(list(row_chunks(path, "y", "t.csv:y")))
    by_index = np.concatenate(list(row_chunks(path, "1", "t.csv:1")))
    np.testing.assert_array_equal(by_name, [[0.5], [1.5], [-1.0]])
    np.testing.assert_array_equal(by_index, by_name)
    np.testing.assert_array_equal(load_probe_data(path), [[1, 0.5], [2, 1.5], [3, -1]])


def test_the_audit_reads_keyed_files_through_the_one_reader(tmp_path: Path) -> None:
    """`relulint.audit.data.read_array` (--data / --targets of an audit) reads named CSV columns (several,
    comma-separated), an .npz member and an entry of a saved list through `relulint.datafiles`."""
    from relulint.audit.data import read_array

    (tmp_path / "t.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    np.savez(tmp_path / "t.npz", x=np.arange(6.0).reshape(3, 2), y=np.zeros(3))
    torch.save([torch.ones(2, 2), torch.arange(4.0)], tmp_path / "t.pt")
    assert read_array("t.csv:c,a", tmp_path).tolist() == [[3.0, 1.0], [6.0, 4.0]]
    assert read_array("t.csv:b", tmp_path, "targets").tolist() == [[2.0], [5.0]]
    assert read_array("t.npz:x", tmp_path).shape == (3, 2)
    assert read_array("t.pt:1", tmp_path).ravel().tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(DataError, match="no column 'd'"):
        read_array("t.csv:a,d", tmp_path)
    with pytest.raises(DataError, match="holds 2 arrays; name one"):
        read_array("t.npz", tmp_path)
