"""The README and docs/results: every local link and picture exists, and the results index lists every file."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _local_targets(md: Path) -> list[tuple[str, Path]]:
    """(link text, resolved path) of every relative link or image in ``md`` (web links and anchors skipped)."""
    out = []
    for target in LINK.findall(md.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        out.append((target, (md.parent / target.split("#")[0]).resolve()))
    return out


def test_readme_and_results_links_resolve() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = [
        f"{md.relative_to(ROOT)}: {t}" for md in pages for t, path in _local_targets(md) if not path.exists()
    ]
    assert not broken, "links to missing files:\n" + "\n".join(broken)


def test_readme_pictures_exist_and_say_how_they_are_made() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert pictures, "the README shows no picture"
    for pic in pictures:
        assert (ROOT / pic).is_file(), pic
    assert "scripts/readme_figures.py" in readme and (ROOT / "scripts" / "readme_figures.py").is_file()


def test_results_index_lists_every_file() -> None:
    index = RESULTS / "README.md"
    listed = {path for _, path in _local_targets(index)}
    files = {p.resolve() for p in RESULTS.rglob("*") if p.is_file() and p != index}
    missing = sorted(str(p.relative_to(RESULTS.resolve())) for p in files - listed)
    assert not missing, "docs/results/README.md does not list: " + ", ".join(missing)


def test_readme_keeps_the_ptbxl_citation_and_the_slow_marker_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Wagner, P., Strodthoff, N." in readme and "Scientific Data 7, 154" in readme
    assert "python -m pytest -m slow" in readme
