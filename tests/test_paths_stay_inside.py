"""Paths from papers never leave the paper, even through a symlink in an unpacked folder."""

import pytest

from s1mmalign.builder.records.manifest import safe_join
from s1mmalign.builder.sources.latex import PaperFiles


def test_symlinked_folder_in_an_unpacked_paper_is_not_followed_out(tmp_path):
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "fig.png").write_bytes(b"secret bytes")
    paper = tmp_path / "paper"
    paper.mkdir()
    (paper / "main.tex").write_text("\\documentclass{article}")
    (paper / "figs").symlink_to(secret, target_is_directory=True)
    files = PaperFiles(root=paper)
    with pytest.raises(FileNotFoundError):
        files.read("figs/fig.png")
    assert files.read("main.tex").startswith(b"\\documentclass")


@pytest.mark.parametrize("rel", ["../x.png", "/etc/passwd", "a/../../x", "C:/x", "a\\..\\..\\x", ""])
def test_safe_join_refuses_escapes(tmp_path, rel):
    assert safe_join(tmp_path, rel) is None
    assert safe_join(tmp_path, rel, resolve_links=True) is None


def test_safe_join_lexical_allows_a_linked_images_folder_but_resolved_does_not(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "images").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert safe_join(root, "images/a.png") == root / "images" / "a.png"
    assert safe_join(root, "images/a.png", resolve_links=True) is None
