"""Committed text names no path of the machine it was written on (experiments, README, docs)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".md", ".csv", ".json", ".sh", ".py"}
NOT_COMMITTED = {"__pycache__", "logs", "outputs", "multirun", "cache", "checkpoints", "wandb"}  # .gitignore
MACHINE_PATHS = ("/work/", "/tmp/pytest")


def committed_text_files() -> list[Path]:
    files = [REPO_ROOT / "README.md"]
    for folder in ("experiments", "docs"):
        files += [
            p
            for p in sorted((REPO_ROOT / folder).rglob("*"))
            if p.is_file()
            and p.suffix in SUFFIXES
            and not NOT_COMMITTED & set(p.relative_to(REPO_ROOT).parts)
        ]
    return files


def test_committed_files_name_no_machine_path() -> None:
    files = committed_text_files()
    assert REPO_ROOT / "experiments" / "table2" / "results_synthetic" / "report.md" in files
    found = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()[:120]}"
        for path in files
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1)
        if any(p in line for p in MACHINE_PATHS)
    ]
    assert not found, (
        "machine paths in committed files (use <placeholders> or repo-relative paths):\n" + "\n".join(found)
    )


def test_nothing_outside_tests_imports_tests_or_edits_sys_path() -> None:
    """The package and the experiments stand on their own: test helpers stay in tests/, and nothing
    reaches into another folder by editing sys.path (harlit is installed)."""
    import re

    unsafe = re.compile(r"^\s*(from tests[. ]|import tests\b)|sys\.path\.(insert|append)", re.MULTILINE)
    sources = [p for folder in ("harlit", "experiments") for p in sorted((REPO_ROOT / folder).rglob("*.py"))]
    assert REPO_ROOT / "harlit" / "train.py" in sources
    found = [str(p.relative_to(REPO_ROOT)) for p in sources if unsafe.search(p.read_text())]
    assert not found, f"these import tests/ or edit sys.path: {found}"
