"""The docs: the site builds with `mkdocs build --strict` (a broken link, a missing anchor or a page
left out of the nav fails it), the README stays a front door, and the generated references are
current."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 200


def test_the_docs_site_builds_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").exists()


def test_every_page_under_docs_is_in_the_nav() -> None:
    """mkdocs reports an omitted page as a warning (`validation.nav.omitted_files`); this names it plainly."""
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    listed = set(re.findall(r":\s*([\w./-]+\.md)\s*$", nav, flags=re.MULTILINE))
    assert pages - listed == set(), "pages missing from mkdocs.yml's nav"
    assert listed - pages == set(), "nav entries without a page"


def test_the_readme_is_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text()
    lines = readme.splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"
    # the one test command and what it needs stay in the README
    for needed in ("make demo", "make test", ".ci/run", "TAKEOVER_TEST_DATABASE_URL", "Prometheus",
                   "Alertmanager", "Chromium", "mkdocs"):
        assert needed in readme, f"README.md no longer mentions {needed}"
    # every relative link from the README points at a file that exists
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README.md links to {target}, which does not exist"


def test_the_generated_references_are_current() -> None:
    """docs/reference/{cli,api,settings}.md are generated from `--help`, the OpenAPI document and the
    settings; a changed command, route or setting needs `scripts/gen-reference` run again."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen-reference"), "--check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cli_reference_has_every_command() -> None:
    import typer.main

    from takeover.cli import app

    cli = (ROOT / "docs" / "reference" / "cli.md").read_text()

    def names(command: object, path: str) -> list[str]:
        subs = getattr(command, "commands", {})
        return [path] + [n for name, sub in subs.items() if not sub.hidden for n in names(sub, f"{path} {name}")]

    for name in names(typer.main.get_command(app), "takeover"):
        assert f"`{name}`" in cli, f"docs/reference/cli.md lacks {name}"
