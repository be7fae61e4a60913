"""Requirements files as pipenv and pip-compile write them (issue 19): pip options are
read past with one note, credentials never leave the file, refused lines name their line,
and the notebooks build names the user's file, not its private copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from nervosum.build.progress import Progress
from nervosum.errors import ConfigError, RequestError
from nervosum.notebooks.requirements import check_requirements
from nervosum.requirements import read_requirements, redact
from tests.conftest import Recorder

WILLB = Path(__file__).parents[1] / "data" / "seeds" / "willb__ml-workflows-notebook"


def test_willbs_pipenv_requirements_are_read_with_one_note() -> None:
    found = read_requirements(WILLB / "requirements.txt")
    assert len(found.requirements) == 62
    assert str(found.requirements[0]) == "altair==4.0.0"
    assert str(found.requirements[1]) == 'appnope==0.1.0; platform_system == "Darwin"'
    assert found.note() == (
        "requirements.txt: pip options ignored, the bundle installs from its own wheels:"
        " -i https://index.example/simple"
    )


@pytest.mark.parametrize(
    ("line", "ignored"),
    [
        ("-i https://pypi.example/simple", "-i https://pypi.example/simple"),
        ("-ihttps://pypi.example/simple", "-i https://pypi.example/simple"),
        ("--index-url=https://pypi.example/simple", "--index-url https://pypi.example/simple"),
        (
            "--extra-index-url https://more.example/simple",
            "--extra-index-url https://more.example/simple",
        ),
        ("-f ./wheels", "-f ./wheels"),
        ("--find-links=https://wheels.example/", "--find-links https://wheels.example/"),
        ("--trusted-host pypi.example", "--trusted-host pypi.example"),
        ("--no-index", "--no-index"),
        ("--pre", "--pre"),
        ("--no-binary :all:", "--no-binary :all:"),
        ("--only-binary=:all:", "--only-binary :all:"),
        ("--prefer-binary", "--prefer-binary"),
        ("--require-hashes", "--require-hashes"),
        ("--use-feature truststore", "--use-feature truststore"),
    ],
)
def test_pip_options_are_ignored_and_named(tmp_path: Path, line: str, ignored: str) -> None:
    (tmp_path / "requirements.txt").write_text(f"{line}\npandas>=2\n")
    found = read_requirements(tmp_path / "requirements.txt")
    assert [str(r) for r in found.requirements] == ["pandas>=2"]
    assert found.ignored == [ignored]


def test_pip_compile_hashes_are_read_past(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "--index-url https://pypi.example/simple\n\n"
        "numpy==1.26.4 \\\n    --hash=sha256:aaaa \\\n    --hash=sha256:bbbb\n"
        "    # via pandas\n"
        'pandas==2.2.2 ; python_version >= "3.9" \\\n    --hash=sha256:cccc\n'
    )
    found = read_requirements(tmp_path / "requirements.txt")
    assert [str(r) for r in found.requirements] == [
        "numpy==1.26.4",
        'pandas==2.2.2; python_version >= "3.9"',
    ]
    assert found.ignored == ["--index-url https://pypi.example/simple", "--hash"]


def test_credentials_in_index_urls_are_masked_everywhere(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "--extra-index-url https://deploy:s3cr3t-t0ken@pypi.corp.example/simple\n"
        "-i https://t0ken-only@pypi.corp.example/simple\npandas\n"
    )
    found = read_requirements(tmp_path / "requirements.txt")
    note = found.note()
    assert note is not None and "s3cr3t" not in note and "t0ken" not in note
    assert found.ignored == [
        "--extra-index-url https://***@pypi.corp.example/simple",
        "-i https://***@pypi.corp.example/simple",
    ]
    assert redact("see https://a:b@h/x and http://h/y") == ("see https://***@h/x and http://h/y")


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("-e .", "editable installs"),
        ("--editable=git+https://deploy:s3cr3t@git.example/m.git#egg=m", "editable installs"),
        ("pkg @ https://x.example/pkg-1.0-py3-none-any.whl", "URLs"),
        ("pandas>=", "Expected"),
        ("--frobnicate yes", "unknown option --frobnicate"),
        ("pandas --frobnicate", "unknown option --frobnicate"),
    ],
)
def test_lines_a_bundle_cannot_hold_name_their_line(tmp_path: Path, line: str, why: str) -> None:
    (tmp_path / "requirements.txt").write_text(f"-i https://pypi.example/simple\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        read_requirements(tmp_path / "requirements.txt")
    [issue] = caught.value.issues
    assert issue.line == 2
    assert why in issue.message
    assert "s3cr3t" not in issue.message
    assert caught.value.exit_code == 2


def test_notebooks_errors_name_the_users_file_not_the_copy(tmp_path: Path) -> None:
    copy = tmp_path / "work" / "source"
    copy.mkdir(parents=True)
    (copy / "requirements.txt").write_text("-i https://pypi.example/simple\n-e .\n")
    user = tmp_path / "my-notebooks"
    with pytest.raises(ConfigError) as caught:
        check_requirements(copy, Progress(), shown=user)
    assert caught.value.filename == str(user / "requirements.txt")
    assert str(caught.value).startswith(f"{user / 'requirements.txt'}:2: cannot bundle '-e .'")
    assert "work" not in str(caught.value)


def test_notebooks_check_willbs_requirements_with_one_note(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_bytes((WILLB / "requirements.txt").read_bytes())
    recorder = Recorder()
    # Its 2020 pins are not all installed here: that is reported, the file is not refused.
    with pytest.raises(RequestError, match="not installed here"):
        check_requirements(tmp_path, recorder)
    notes = [line for line in recorder.lines if "pip options ignored" in line]
    assert notes == [
        "requirements.txt: pip options ignored, the bundle installs from its own wheels:"
        " -i https://index.example/simple"
    ]
