"""The code blocks of a Markdown page, and a script that runs them in order.

Conventions of the pages (docs/ and README.md):

- ```` ```python ```` blocks run in order, in one namespace per page;
- ```` ```bash ```` / ```` ```console ```` blocks run line by line, in the same process:
  ``mislabel ...`` through ``mislabel.cli.main``, ``python -m MODULE ...`` through
  :mod:`runpy`, ``python -c CODE`` by ``exec``; a leading ``$ `` is dropped, ``#`` starts a
  comment, lines ending in ``\\`` continue;
- the line ``<!-- docs-test: skip -->`` right before a fence leaves that block out (an install
  command, a server that keeps running, a GPU); any other language (``text``, ``toml``) is
  never run.

Every page runs in a fresh folder, so files written by one block are there for the next.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

SKIP = "<!-- docs-test: skip -->"
RUN_LANGS = {"python": "python", "py": "python", "bash": "shell", "console": "shell", "sh": "shell"}
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")


@dataclass(frozen=True)
class Block:
    kind: str  # "python" | "shell" | "other"
    line: int  # 1-based line of the opening fence
    code: str
    skip: bool


def blocks(text: str) -> list[Block]:
    """Every fenced block of ``text``, in order."""
    lines = text.splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
        prev = next((ln.strip() for ln in reversed(lines[:i]) if ln.strip()), "")
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        out.append(Block(RUN_LANGS.get(lang, "other"), start + 1, "\n".join(body), prev == SKIP))
    return out


def shell_commands(code: str) -> list[list[str]]:
    """The argv of each command of a shell block (continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n", " ", code)
    cmds = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        argv = shlex.split(line, comments=True)
        if argv:
            cmds.append(argv)
    return cmds


def script(page: Path, text: str) -> str:
    """A Python script that runs the page's blocks in order; a failure names the page line."""
    parts = [
        "import subprocess, sys, time",
        "_t = [time.perf_counter()]",
        "def _lap(where):",
        "    now = time.perf_counter()",
        "    print(f'== {where} ({now - _t[0]:.1f} s since the previous block)', flush=True)",
        "    _t[0] = now",
        "_ns = {'__name__': '__main__'}",
        # Commands run in this process (one interpreter start and one import of mislabel per
        # page, not per command); `python -m MOD` through runpy, `python -c CODE` by exec.
        "import runpy",
        "def _in_process(run, argv0, args):",
        "    saved = sys.argv",
        "    sys.argv = [argv0, *args]",
        "    try:",
        "        run()",
        "    except SystemExit as exc:",
        "        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)",
        "    finally:",
        "        sys.argv = saved",
        "    return 0",
        "def _sh(argv, where):",
        "    if argv[0] == 'mislabel':",
        "        from mislabel.cli import main",
        "        rc = _in_process(lambda: main(argv[1:]), 'mislabel', argv[1:])",
        "    elif argv[:2] == ['python', '-m']:",
        "        run = lambda: runpy.run_module(argv[2], run_name='__main__', alter_sys=True)",
        "        rc = _in_process(run, argv[2], argv[3:])",
        "    elif argv[:2] == ['python', '-c']:",
        "        rc = _in_process(lambda: exec(argv[2], {'__name__': '__main__'}), '-c', argv[3:])",
        "    elif argv[0] == 'python':",
        "        rc = subprocess.run([sys.executable, *argv[1:]]).returncode",
        "    else:",
        "        raise SystemExit(f'{where}: only mislabel and python commands run; '",
        "                         f'mark the block <!-- docs-test: skip --> ({argv[0]})')",
        "    if rc != 0:",
        "        raise SystemExit(f'{where}: {\" \".join(argv)} exited with {rc}')",
    ]
    # Guarded: worker processes started by the examples (Dask, joblib) import this script.
    parts.append("if __name__ == '__main__':")
    for b in blocks(text):
        if b.skip or b.kind == "other":
            continue
        where = f"{page}:{b.line}"
        parts.append(f"    _lap({where!r})")
        if b.kind == "python":
            parts.append(f"    exec(compile({b.code!r}, {where!r}, 'exec'), _ns)")
        else:
            parts += [f"    _sh({argv!r}, {where!r})" for argv in shell_commands(b.code)]
    parts.append("    _lap('end')")
    return "\n".join(parts) + "\n"
