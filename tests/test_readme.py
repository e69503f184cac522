"""The README stays short, and every link in it (and in docs/) opens a file of the repo."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_readme_is_at_most_about_120_lines() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 120


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_resolves_to_a_file_in_the_repo(page: Path) -> None:
    links = LINK.findall(page.read_text())
    assert page.name != "README.md" or links, "the README links to its pages"
    for link in links:
        target = link.split("#", 1)[0]
        assert "://" not in link and not link.startswith("/"), f"{link}: not a repo path"
        assert (page.parent / target).resolve().exists(), f"{page.name}: {link} is missing"
