"""`--format github`: workflow commands with the runner's escaping (actions/toolkit command.ts)."""

from __future__ import annotations

import pytest
from test_render import make_finding, make_report, make_target, mixed_report

from relulint.records.loaded import Skipped
from relulint.records.location import Location
from relulint.records.report import Severity
from relulint.render import render
from relulint.render.github import annotation, escape_data, escape_property, workflow_command


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("100%", "100%25"),
        ("a\nb", "a%0Ab"),
        ("a\r\nb", "a%0D%0Ab"),
        ("%0A literal", "%250A literal"),
        ("a: b, c", "a: b, c"),  # the message keeps ':' and ','
    ],
)
def test_escape_data(raw, escaped) -> None:
    assert escape_data(raw) == escaped


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("RL101: born-dead, chain", "RL101%3A born-dead%2C chain"),
        ("50%\r\n", "50%25%0D%0A"),
        ("C:\\path,x.py", "C%3A\\path%2Cx.py"),
    ],
)
def test_escape_property(raw, escaped) -> None:
    assert escape_property(raw) == escaped


def test_severity_maps_to_commands() -> None:
    lines = render(mixed_report(), "github").splitlines()
    assert lines[0].startswith("::error file=model.py,line=8,col=1,title=RL101 born-dead-relu-chain::")
    assert lines[1].startswith("::notice ")
    assert lines[2].startswith("::warning file=pkg/nets.py,line=3,")
    assert lines[-1] == "relulint: 3 findings (1 error, 1 warning, 1 info) in 2 models"


def test_every_annotation_is_one_line_with_escapes() -> None:
    finding = make_finding(
        message="P = 80%\nsecond line",
        path="odd,dir/a:b.py",
        fix="widen: to 11, or cut",
        severity=Severity.WARNING,
    )
    line = annotation(finding)
    assert "\n" not in line and "\r" not in line
    head, message = line.split("::", 2)[1:]
    assert head == "warning file=odd%2Cdir/a%3Ab.py,line=8,col=1,title=RL101 born-dead-relu-chain"
    assert message == "P = 80%25%0Asecond line%0Afix: widen: to 11, or cut"


def test_skipped_and_fixed_become_notices() -> None:
    report = make_report(
        make_target(findings=[]),
        skipped=[Skipped("NeedsArgs", "needs width", Location("m.py", 4))],
        fixed=["x"],
    )
    lines = render(report, "github").splitlines()
    assert lines[0] == "::notice file=m.py,line=4,col=1,title=relulint skipped NeedsArgs::needs width"
    assert lines[1].startswith("::notice title=relulint::1 baseline entries")


def test_workflow_command_without_properties() -> None:
    assert workflow_command("notice", "hi", {}) == "::notice::hi"


def test_line_is_at_least_one() -> None:
    assert ",line=1," in annotation(make_finding(line=0))
