"""Fill-in-the-middle samples from the running interpreter's standard library (PSF license).

A sample cuts one source file at line boundaries into prefix, hole and suffix; the hole is one
line or a short indented block. Files are split into training and held-out by a hash of their
path, so the evaluation's files were never seen in training.
"""

from __future__ import annotations

import hashlib
import random
import sysconfig
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PREFIX_LINES, SUFFIX_LINES = 24, 8
PREFIX_CHARS, SUFFIX_CHARS, HOLE_CHARS = 700, 300, 240
SKIP_DIRS = {
    "test",
    "tests",
    "idlelib",
    "tkinter",
    "turtledemo",
    "site-packages",
    "lib2to3",
    "ensurepip",
}
HELD_OUT_PERCENT = 5


@dataclass
class FimSample:
    path: str
    prefix: str
    middle: str
    suffix: str


def split_of(relative_path: str) -> str:
    digest = hashlib.sha256(relative_path.encode()).digest()
    return "held_out" if digest[0] * 100 // 256 < HELD_OUT_PERCENT else "train"


@cache
def source_files(split: str) -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if SKIP_DIRS.intersection(rel.parts[:-1]) or split_of(str(rel)) != split:
            continue
        files.append(path)
    return files


@cache
def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines(keepends=True)
    except (UnicodeDecodeError, OSError):
        return []


def _hole_end(lines: list[str], start: int, rng: random.Random) -> int:
    """One line, or the line and the block indented under it (a short `if`, loop or body)."""
    first = lines[start]
    indent = len(first) - len(first.lstrip())
    if first.rstrip().endswith(":") and rng.random() < 0.5:
        end = start + 1
        while end < len(lines) and end - start < 6:
            line = lines[end]
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            end += 1
        return end
    return start + 1


def fim_samples(rng: random.Random, count: int, split: str) -> list[FimSample]:
    files = source_files(split)
    out: list[FimSample] = []
    while len(out) < count:
        path = rng.choice(files)
        lines = _lines(path)
        if len(lines) < 8:
            continue
        start = rng.randrange(2, len(lines) - 2)
        if not lines[start].strip() or lines[start].lstrip().startswith("#"):
            continue
        end = _hole_end(lines, start, rng)
        middle = "".join(lines[start:end])
        if len(middle) > HOLE_CHARS:
            continue
        prefix = "".join(lines[max(0, start - PREFIX_LINES) : start])[-PREFIX_CHARS:]
        suffix = "".join(lines[end : end + SUFFIX_LINES])[:SUFFIX_CHARS]
        out.append(FimSample(str(path), prefix, middle, suffix))
    return out
