"""Repository URLs are shown without their credentials, however they are spelled (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nervosum.repo.sources import GitAuth, GitSource
from nervosum.urls import Credentials, holds_secret, redact, split_credentials

TOKEN = "ghp_s3cr3tT0ken"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # a token alone was shown as given
        (f"https://{TOKEN}@git.example/m.git", "https://***@git.example/m.git"),
        # a password with '@' was half redacted, one with '/' not at all
        ("https://bob:p@ss@git.example/m.git", "https://***@git.example/m.git"),
        ("https://bob:pa/ss@git.example/m.git", "https://***@git.example/m.git"),
        ("https://bob%40corp:p%2Fss@git.example/m.git", "https://***@git.example/m.git"),
        ("ssh://bob:pw@git.example/m.git", "ssh://***@git.example/m.git"),
        # nothing secret: shown as given
        ("git@github.com:team/m.git", "git@github.com:team/m.git"),
        ("https://git.example/m.git", "https://git.example/m.git"),
        ("file:///srv/m.git", "file:///srv/m.git"),
    ],
)
def test_every_spelling_of_credentials_is_cut_out_whole(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_text_from_git_is_redacted_wherever_it_echoes_the_credentials() -> None:
    url = f"https://bob:{TOKEN}@git.example/m.git"
    said = (
        f"fatal: unable to access 'https://bob:{TOKEN}@git.example/m.git/': denied for {TOKEN}"
        f" (https://alice:other-secret@mirror.example/m.git)"
    )
    shown = redact(said, url)
    assert TOKEN not in shown and "other-secret" not in shown
    assert shown.startswith("fatal: unable to access 'https://***@git.example/m.git/'")
    decoded = redact("Authentication failed for p@ss/word", "https://bob:p%40ss%2Fword@h/m.git")
    assert decoded == "Authentication failed for ***"


def test_credentials_are_split_from_the_url_decoded() -> None:
    assert split_credentials(f"https://{TOKEN}@git.example/m.git") == (
        "https://git.example/m.git",
        Credentials(TOKEN, None),
    )
    assert split_credentials("https://bob%40corp:p%2F@ss@h/m.git") == (
        "https://h/m.git",
        Credentials("bob@corp", "p/@ss"),
    )
    assert split_credentials("git@github.com:team/m.git") == ("git@github.com:team/m.git", None)


def test_an_ssh_user_name_alone_is_no_secret() -> None:
    assert not holds_secret("ssh://git@git.example/m.git")
    assert not holds_secret("git@github.com:team/m.git")
    assert holds_secret("ssh://git:pw@git.example/m.git")
    assert holds_secret(f"https://{TOKEN}@git.example/m.git")


def test_a_git_source_moves_url_credentials_into_its_header(tmp_path: Path) -> None:
    source = GitSource(f"https://{TOKEN}@git.example/m.git", tmp_path)
    assert source.url == "https://git.example/m.git"
    assert source.auth == GitAuth(TOKEN, "")
    assert TOKEN not in source.description


@pytest.mark.parametrize(
    "line",
    ["git+https://github.com/org/repo@v1.0#egg=x", "pkg @ git+https://github.com/o/r.git@main"],
)
def test_a_pip_vcs_reference_is_not_taken_for_credentials(line: str) -> None:
    assert redact(line) == line


def test_a_vcs_url_with_a_token_and_a_reference_loses_only_the_token() -> None:
    line = "git+https://tok:secret@github.com/org/repo@v1.0#egg=x"
    assert redact(line) == "git+https://***@github.com/org/repo@v1.0#egg=x"


@pytest.mark.parametrize("rest", ["host", "host:8080", "host?x=1"])
def test_a_password_with_an_at_sign_is_hidden_whole_without_a_path(rest: str) -> None:
    assert redact(f"https://user:p@ss@{rest}") == f"https://***@{rest}"
