"""Baselines: write today's findings, report only new ones, list fixed entries; keys ignore line numbers."""

from __future__ import annotations

import json

import pytest
from test_render import make_chain, make_finding, make_report, make_target

from relulint.baseline import (
    BASELINE_VERSION,
    Baseline,
    baseline_from_report,
    filter_baseline,
    filter_report,
    finding_key,
    read_baseline,
    write_baseline,
)
from relulint.errors import DataError


def deep_narrow(line: int = 8, target: str = "model.py:Net", widths=(3,) * 12, extra=()):
    chains = [make_chain(list(widths), line=line)]
    findings = [make_finding(line=line, target=target), *extra]
    return make_target(chains, findings, target=target)


def test_write_and_read_round_trip(tmp_path) -> None:
    report = make_report(deep_narrow())
    path = tmp_path / "ci" / "baseline.json"
    assert write_baseline(report, path) == 1
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["version"] == BASELINE_VERSION and document["relulint"] == "0.1.0"
    (entry,) = document["entries"]
    assert entry["code"] == "RL101" and entry["path"] == "model.py" and entry["model"] == "Net"
    assert entry["shape"] == "1 → 3×12 → 1" and entry["count"] == 1
    assert "line" not in entry
    assert read_baseline(path).entries == baseline_from_report(report).entries


def test_same_report_filters_to_nothing(tmp_path) -> None:
    path = tmp_path / "b.json"
    write_baseline(make_report(deep_narrow()), path)
    filtered = filter_report(make_report(deep_narrow()), path)
    assert filtered.findings == () and filtered.fixed == ()


def test_key_ignores_lines_and_target_spelling() -> None:
    one = deep_narrow(line=8)
    two = deep_narrow(line=40, target="model.py")
    assert finding_key(one.findings[0], one) == finding_key(two.findings[0], two)


def test_key_depends_on_code_model_and_chain_shape() -> None:
    base = deep_narrow()
    wider = deep_narrow(widths=(4,) * 12)
    other_code = deep_narrow(extra=[make_finding("RL901", chain=None)])
    key = finding_key(base.findings[0], base)
    assert finding_key(wider.findings[0], wider) != key
    assert finding_key(other_code.findings[1], other_code) != key


def test_new_findings_are_reported_and_fixed_entries_listed(tmp_path) -> None:
    path = tmp_path / "b.json"
    write_baseline(make_report(deep_narrow()), path)
    changed = deep_narrow(widths=(2,) * 12, extra=[])  # the old chain is gone, a new one appeared
    filtered = filter_report(make_report(changed), path)
    assert len(filtered.findings) == 1
    assert filtered.fixed == ("RL101 model.py:Net 1 → 3×12 → 1",)


def test_counts_absorb_duplicates() -> None:
    target = deep_narrow(extra=[make_finding()])  # two identical findings
    baseline = baseline_from_report(make_report(target))
    assert [e.count for e in baseline.entries] == [2]
    keyed = [(finding_key(f, target), f) for f in target.findings]
    new, fixed = filter_baseline(keyed + keyed[:1], baseline)
    assert len(new) == 1 and fixed == []


def test_entries_of_models_not_linted_are_not_fixed(tmp_path) -> None:
    path = tmp_path / "b.json"
    other = make_target([make_chain([2] * 9)], [make_finding()], name="Other", path="other.py")
    write_baseline(make_report(deep_narrow(), other), path)
    filtered = filter_report(make_report(make_target([make_chain([64])], [])), path)
    assert filtered.fixed == ("RL101 model.py:Net 1 → 3×12 → 1",)


def test_empty_baseline_keeps_everything() -> None:
    report = make_report(deep_narrow())
    assert filter_report(report, Baseline()).findings == report.findings


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{not json", "cannot read baseline"),
        ('{"version": 99, "entries": []}', "unsupported version 99"),
        ("[]", "unsupported version"),
        ('{"version": 1, "entries": [{"code": "RL101"}]}', "malformed entry"),
        ('{"version": 1, "entries": [3]}', "malformed entry"),
    ],
)
def test_bad_baseline_files_are_data_errors(tmp_path, text, needle) -> None:
    path = tmp_path / "b.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=needle):
        read_baseline(path)


def test_missing_baseline_hints_at_write_baseline(tmp_path) -> None:
    with pytest.raises(DataError) as raised:
        read_baseline(tmp_path / "nope.json")
    assert "--write-baseline" in raised.value.hint


def test_baseline_file_is_deterministic(tmp_path) -> None:
    report = make_report(
        deep_narrow(), make_target([make_chain([2] * 9)], [make_finding()], name="A", path="a.py")
    )
    write_baseline(report, tmp_path / "one.json")
    write_baseline(report, tmp_path / "two.json")
    assert (tmp_path / "one.json").read_text() == (tmp_path / "two.json").read_text()
    paths = [e["path"] for e in json.loads((tmp_path / "one.json").read_text())["entries"]]
    assert paths == sorted(paths)
