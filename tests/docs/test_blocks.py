"""The block extraction of the docs tests."""

from __future__ import annotations

from tests.docs._blocks import blocks, shell_commands


def test_blocks_kinds_lines_and_skip() -> None:
    text = "\n".join(
        [
            "# Page",
            "```python",
            "x = 1",
            "```",
            "<!-- docs-test: skip -->",
            "```bash",
            "pip install mislabel",
            "```",
            "```text",
            "out",
            "```",
        ]
    )
    got = blocks(text)
    assert [(b.kind, b.line, b.skip) for b in got] == [
        ("python", 2, False),
        ("shell", 6, True),
        ("other", 9, False),
    ]
    assert got[0].code == "x = 1"


def test_shell_commands_comments_prompts_continuations() -> None:
    code = (
        "$ mislabel find photos -o out   # the suspects\nmislabel clean out \\\n  --policy remove\n"
    )
    assert shell_commands(code) == [
        ["mislabel", "find", "photos", "-o", "out"],
        ["mislabel", "clean", "out", "--policy", "remove"],
    ]
