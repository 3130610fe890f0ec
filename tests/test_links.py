"""Every reference to a repository file in the documentation points to something the repository
holds: relative links, and backticked or plain mentions of paths such as `STUDY.md`,
`docs/gpu.md` or `params/<profile>/scale.yaml`, in README.md, STUDY.md, docs/*.md,
params/README.md and the notebooks' markdown cells.

A mention is resolved against the document's folder, then against the repository root; a
bare file name (no folder) may also name a file anywhere in the repository. A placeholder in
angle brackets (`<profile>`) or a `*` stands for any name, and `NN` for a study's two-digit
number (`params/cpu/NN.yaml`); at least one path must match.
Paths that git ignores do not count as held. Outputs that only exist after a command has run
pass through ALLOWED, each with its reason."""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import posixpath
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# generated or local outputs a document may name although the repository does not hold them
ALLOWED: dict[str, str] = {
    "reports/*-tiny/": "written by the tiny dry runs (`--tiny`), git-ignored",
    "bench/*.json": "written by `make bench`, git-ignored",
    "runs/": "the store of trained runs, created by the first run, git-ignored",
    ".venv/": "the environment that `make` creates",
    "data/": "the default data folder, provided by the user",
    "config.json": "a stored run's configuration, inside the store",
}

EXTENSIONS = ("md", "ipynb", "py", "yaml", "yml", "json", "html", "toml", "txt", "sh", "cfg")
TOP_FOLDERS = ("docs", "params", "reports", "tickets", "notebooks", "tests", "device")

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|(?:href|src)=\"([^\"]+)\""
                   r"|^\s*\[[^\]]+\]:\s*(\S+)", re.M)
_CODE = re.compile(r"`([^`\n]+)`")
_EXT = "|".join(EXTENSIONS)
_PLAIN = re.compile(
    rf"(?<![\w./<>*-])(?:(?:{'|'.join(TOP_FOLDERS)})/[\w.<>*/-]*[\w>*/]"
    rf"|[\w<>*-][\w.<>*-]*\.(?:{_EXT}))(?![\w/-])")
_PATHLIKE = re.compile(r"^[\w.<>*/-]+$")


def documents(root: Path = ROOT) -> list[Path]:
    """The documents whose references are checked."""
    docs = [root / "README.md", root / "STUDY.md", *sorted((root / "docs").glob("*.md")),
            root / "params" / "README.md", *sorted((root / "notebooks").glob("*.ipynb"))]
    return [d for d in docs if d.exists()]


def markdown_of(doc: Path) -> str:
    """A document's markdown: the file itself, or a notebook's markdown cells."""
    if doc.suffix != ".ipynb":
        return doc.read_text(encoding="utf-8")
    cells = json.loads(doc.read_text(encoding="utf-8"))["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _is_path(span: str) -> bool:
    """Whether a backticked span names a file or folder (and not a command, a module or a
    value)."""
    if not _PATHLIKE.match(span) or span.startswith(("-", "/", "~")):
        return False
    return "/" in span or bool(re.search(rf"\.(?:{_EXT})$", span))


def references(text: str) -> tuple[list[str], list[str]]:
    """(link targets, path mentions) in markdown text. Fenced code blocks are skipped."""
    text = _FENCE.sub("", text)
    links = []
    for m in _LINK.finditer(text):
        target = next(g for g in m.groups() if g).split("#", 1)[0]
        if target and not re.match(r"^[a-z][a-z0-9+.-]*:", target):
            links.append(target)
    mentions = [s for s in _CODE.findall(text) if _is_path(s)]
    plain = _CODE.sub(" ", _LINK.sub(" ", text))
    mentions += _PLAIN.findall(plain)
    return links, mentions


@functools.lru_cache(maxsize=8)
def held(root: Path) -> tuple[frozenset[str], frozenset[str]]:
    """(files, folders) the repository in `root` holds, as paths relative to it: what git
    tracks or would track (ignored paths left out), or where git cannot say, every file
    outside hidden folders."""
    listed = None
    if shutil.which("git") and (root / ".git").exists():
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=root, capture_output=True, text=True,
                             check=False)
        listed = out.stdout if out.returncode == 0 else None
    if listed is not None:
        files = {f for f in listed.split("\0") if f and (root / f).is_file()}
    else:
        files = set()
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            rel = Path(folder).relative_to(root)
            files |= {(rel / n).as_posix() for n in names}
    folders = {p.as_posix() for f in files for p in Path(f).parents if p != Path(".")}
    return frozenset(files), frozenset(folders)


def _placeholders(ref: str) -> str:
    """A reference as a glob pattern: `<name>` stands for any name, `NN` for two digits."""
    return re.sub(r"\bNN\b", "[0-9][0-9]", re.sub(r"<[^<>/]*>", "*", ref))


def _allowed_by(ref: str, allowance: str) -> bool:
    return fnmatch.fnmatch(ref, allowance) or fnmatch.fnmatch(ref.rstrip("/") + "/", allowance)


def _allowed(ref: str) -> bool:
    return any(_allowed_by(ref, a) for a in ALLOWED)


def resolves(ref: str, doc: Path, root: Path, link: bool = False) -> bool:
    """Whether a reference from `doc` names something the repository in `root` holds. A link
    resolves against the document's folder only; a mention also against the root, and a bare
    file name anywhere in the repository."""
    if _allowed(ref):
        return True
    files, folders = held(root)
    pattern = _placeholders(ref)
    want_folder = pattern.endswith("/")
    pool = folders if want_folder else files | folders
    here = doc.parent.relative_to(root).as_posix()
    bases = [here] if link else [here, "."]
    for base in bases:
        path = posixpath.normpath(posixpath.join(base, pattern.rstrip("/")))
        if path == ".." or path.startswith("../"):
            continue
        if any(fnmatch.fnmatchcase(p, path) for p in pool):
            return True
    if not link and "/" not in pattern:
        return any(fnmatch.fnmatchcase(posixpath.basename(p), pattern) for p in files)
    return False


def broken_references(doc: Path, root: Path = ROOT) -> list[str]:
    """Every reference in `doc` that points to nothing the repository holds."""
    links, mentions = references(markdown_of(doc))
    bad = [f"link {t}" for t in links if not resolves(t, doc, root, link=True)]
    bad += [f"mention {m}" for m in mentions if not resolves(m, doc, root)]
    return sorted(set(bad))


def test_the_documents_are_found():
    names = {str(d.relative_to(ROOT)) for d in documents()}
    assert {"README.md", "STUDY.md", "docs/method.md", "params/README.md"} <= names
    assert any(n.startswith("notebooks/") for n in names)


@pytest.mark.parametrize("doc", documents(), ids=lambda d: str(d.relative_to(ROOT)))
def test_every_reference_resolves(doc: Path):
    assert broken_references(doc) == []


def test_a_made_up_reference_fails(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "real.md").write_text("x")
    (tmp_path / "params" / "cpu").mkdir(parents=True)
    (tmp_path / "params" / "cpu" / "scale.yaml").write_text("x: 1")
    (tmp_path / "params" / "cpu" / "01.yaml").write_text("x: 2")
    (tmp_path / "STUDY.md").write_text("x")
    doc = tmp_path / "docs" / "page.md"
    doc.write_text(
        "[ref]: ../absent/ref.md\n<img src=\"pic.png\">\n"
        "Good: [real](real.md), [study](../STUDY.md#claims), `STUDY.md`, "
        "`params/<profile>/scale.yaml`, `params/<profile>/NN.yaml`, see docs/real.md, "
        "[web](https://example.org).\n"
        "Bad: [gone](gone.md), [up](../MISSING.md), `docs/made-up.md`, see "
        "params/cpu/nothing.yaml and NOTES.md, `params/<profile>/absent.yaml`, `docs/NN.md`.\n"
        "```\nignored/in/a/fence.md\n```\n")
    assert broken_references(doc, tmp_path) == sorted(
        ["link gone.md", "link ../MISSING.md", "link ../absent/ref.md", "link pic.png",
         "mention docs/made-up.md",
         "mention params/cpu/nothing.yaml", "mention NOTES.md",
         "mention params/<profile>/absent.yaml", "mention docs/NN.md"])


def test_a_made_up_reference_in_a_notebook_fails(tmp_path: Path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "STUDY.md").write_text("x")
    nb = tmp_path / "notebooks" / "00_x.ipynb"
    cells = [{"cell_type": "markdown", "source": ["see `STUDY.md` and `docs/none.md`"]},
             {"cell_type": "code", "source": ["open('docs/also-none.md')"]}]
    nb.write_text(json.dumps({"cells": cells}))
    assert broken_references(nb, tmp_path) == ["mention docs/none.md"]


def test_every_allowance_has_a_reason_and_is_used():
    assert len(ALLOWED) <= 12
    assert all(reason.strip() for reason in ALLOWED.values())
    refs = [r for d in documents() for group in references(markdown_of(d)) for r in group]
    unused = [a for a in ALLOWED if not any(_allowed_by(r, a) for r in refs)]
    assert unused == [], f"allowances no document needs any more: {unused}"


def test_study_names_every_claim_its_title_and_its_notebook():
    from tickets.claims import CLAIMS

    study = (ROOT / "STUDY.md").read_text(encoding="utf-8")
    for c in CLAIMS:
        row = next((line for line in study.splitlines() if line.startswith(f"| {c.id} |")), "")
        assert row, f"STUDY.md has no table row for claim {c.id}"
        assert f"| {c.title} |" in row, f"{c.id}: STUDY.md does not give its title {c.title!r}"
        assert f"notebooks/{c.notebook}.ipynb" in row, f"{c.id}: its notebook is not named"


def test_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 220
    assert lines.count("<!-- claims:start -->") == 1 == lines.count("<!-- claims:end -->")
    assert lines.index("<!-- claims:start -->") < lines.index("<!-- claims:end -->")
