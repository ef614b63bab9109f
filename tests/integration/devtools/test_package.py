"""The deployment zip (`./dev package`, DESIGN.md section 14, Packaging).

`.funcignore` is read as git reads a `.gitignore` (checked against git itself), and the app is
indexed from the unpacked zip alone, in a fresh interpreter that sees nothing else.
The first build on a machine installs the runtime requirements with pip (about 30 s with pip's
cache warm, 40 s cold); later ones reuse `.tools/package` and only zip (about 2 s).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from devtools.package import (
    PACKAGES_IN_ZIP,
    IgnoreRules,
    Package,
    app_files,
    build,
    parse_rule,
)

ROOT = Path(__file__).resolve().parents[3]
DEPLOYED = {"function_app.py", "host.json", "requirements.txt", "cancel", "notify", "shared"}

# --- the matcher ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "ignored"),
    [
        # a name without a slash matches at any depth, a file or a directory
        ("dev", "dev", False, True),
        ("dev", "shared/dev", True, True),
        ("dev", "devtools", True, False),
        ("dev", "my.dev", False, False),
        ("README.md", "docs/README.md", False, True),
        # a trailing slash: directories only
        ("tests/", "tests", True, True),
        ("tests/", "tests", False, False),
        ("tests/", "shared/tests", True, True),
        ("__pycache__/", "shared/calendar/__pycache__", True, True),
        # globs: `*` and `?` stay within a segment
        (".git*", ".gitignore", False, True),
        (".git*", ".github", True, True),
        (".git*", ".git", True, True),
        (".git*", "a.git", False, False),
        ("*.pyc", "shared/x.pyc", False, True),
        ("?z.txt", "az.txt", False, True),
        ("?z.txt", "z.txt", False, False),
        ("[abc]x", "bx", False, True),
        ("[abc]x", "dx", False, False),
        ("[!abc]x", "dx", False, True),
        ("[a-c]x", "cx", False, True),
        ("[a-c]x", "-x", False, False),
        ("[", "[", False, True),
        # a slash at the start or in the middle anchors the pattern at the root
        ("/function_app.py", "function_app.py", False, True),
        ("/function_app.py", "shared/function_app.py", False, False),
        ("shared/*.json", "shared/a.json", False, True),
        ("shared/*.json", "shared/graph/a.json", False, False),
        ("shared/*.json", "x/shared/a.json", False, False),
        ("/infra/", "infra", True, True),
        ("/infra/", "shared/infra", True, False),
        # `**`
        ("**/seed", "seed", True, True),
        ("**/seed", "a/b/seed", True, True),
        ("logs/**", "logs/a/b.txt", False, True),
        ("logs/**", "logs", True, False),
        ("a/**/b", "a/b", False, True),
        ("a/**/b", "a/x/y/b", False, True),
        ("a/**/b", "a/xb", False, False),
        ("foo**bar", "fooXbar", False, True),
        ("foo**bar", "foo/bar", False, False),
        # quoting
        ("\\#hash", "#hash", False, True),
        ("\\!bang", "!bang", False, True),
        ("trailing\\ ", "trailing ", False, True),
        ("trailing  ", "trailing", False, True),
        ("*.tx\\?", "a.tx?", False, True),
        ("*.tx\\?", "a.txt", False, False),
    ],
)
def test_a_pattern_matches_as_gitignore_says(
    pattern: str, path: str, is_dir: bool, ignored: bool
) -> None:
    assert IgnoreRules.parse(pattern).ignores(path, is_dir=is_dir) is ignored


def test_comments_and_blank_lines_are_no_rules() -> None:
    assert parse_rule("# a comment") is None
    assert parse_rule("   ") is None
    assert parse_rule("/") is None
    assert IgnoreRules.parse("\n# x\n\n").rules == ()


def test_the_last_matching_rule_decides_but_an_ignored_directory_stays_ignored() -> None:
    rules = IgnoreRules.parse("*.json\n!host.json\nshared/\n!shared/keep.json\n")

    assert rules.ignores("local.json")
    assert not rules.ignores("host.json")
    assert not rules.ignores("cancel/host.json")
    # git never looks inside an ignored directory, so `!` cannot bring a file back from it
    assert rules.ignores("shared/keep.json")
    assert rules.ignores("shared/x/y.py")


# Paths that tell the patterns of .funcignore apart, beside every tracked file of the repository.
TRICKY_PATHS = [
    "dev",
    "development.py",
    "shared/dev",
    "shared/devtools/x.py",
    "shared/tests/x.py",
    "tests.py",
    "cancel/__pycache__/http.cpython-311.pyc",
    ".github/workflows/ci.yml",
    ".gitattributes",
    "docs/README.md",
    "docs/READMEXmd",
    "sub/local.settings.json",
    "sub/infra/main.bicep",
    "infra.py",
    "azure.yaml.bak",
    "dist/app.zip",
    "shared/dist/x",
    "maildir",
    "anchored.txt",
    "sub/anchored.txt",
    "sub/a.tmp",
    "sub/deeper/a.tmp",
    "keep.tmp",
    "x/deep/a.log",
    "deep/a.log",
    "logs/a/b.txt",
    "a/x/y/b",
    "bx.txt",
    "dy.txt",
    "ay.txt",
    "#hash",
]
EXTRA_PATTERNS = """
/anchored.txt
sub/*.tmp
*.tmp
!keep.tmp
**/deep/*.log
logs/**
a/**/b
[abc]x.txt
[!a]y.txt
\\#hash
"""


@pytest.mark.skipif(shutil.which("git") is None, reason="git is the reference")
def test_funcignore_keeps_the_files_git_keeps(tmp_path: Path) -> None:
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for path in {*tracked, *TRICKY_PATHS} - {".gitignore", ".funcignore"}:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).touch()
    patterns = (ROOT / ".funcignore").read_text("utf-8") + EXTRA_PATTERNS
    (tmp_path / ".gitignore").write_text(patterns)
    git = ["git", "-C", str(tmp_path), "-c", "core.excludesFile=/dev/null"]
    subprocess.run([*git, "init", "-q"], check=True)

    kept_by_git = subprocess.run(
        [*git, "ls-files", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    kept = app_files(tmp_path, IgnoreRules.parse(patterns))

    assert kept == sorted(set(kept_by_git) - {".gitignore"})
    assert "function_app.py" in kept


# --- the zip -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The zip of this checkout, built once for the module (pip runs on a machine's first)."""
    return build(tmp_path_factory.mktemp("package") / "app.zip", progress=lambda _: None)


def zip_names(package: Package) -> list[str]:
    with zipfile.ZipFile(package.output) as archive:
        return archive.namelist()


def test_the_zip_holds_the_app_and_its_packages_and_nothing_else(package: Package) -> None:
    names = zip_names(package)
    app = [name for name in names if not name.startswith(".python_packages/")]
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    tracked = [path for path in listed if (ROOT / path).exists()]
    untracked = set(package.untracked)  # work in progress here: not in the checkout CI sees

    assert app == list(package.app_files)
    assert {name.split("/")[0] for name in app if name not in untracked} == DEPLOYED
    assert {"function_app.py", "host.json", "requirements.txt"} <= set(app)
    code = ("cancel/", "notify/", "shared/")  # every file of these, as git has them
    assert sorted(path for path in tracked if path.startswith(code)) == sorted(
        name for name in app if name.startswith(code) and name not in untracked
    )
    for left_out in ("tests/", "devtools/", ".venv/", ".tools/", ".git/", "infra/", "dist/"):
        assert not [name for name in names if name.startswith(left_out)], left_out
    for left_out in ("local.settings.json", "local.settings.sample.json", "README.md", "dev",
                     "pyproject.toml", "requirements-dev.txt", ".funcignore", ".gitignore",
                     "azure.yaml"):  # fmt: skip
        assert left_out not in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in names if name.startswith(f"{PACKAGES_IN_ZIP}/bin/")]
    packages = f"{PACKAGES_IN_ZIP}/"
    assert f"{packages}azure/functions/__init__.py" in names
    assert any(n.startswith(f"{packages}pydantic_core/") and n.endswith(".so") for n in names)
    # what the index has no wheel of (sly 0.4, which odata-query pins) was built as pure Python
    assert all(w.endswith("-none-any.whl") for w in package.installed.built_from_source)


def test_the_zip_is_sorted_and_the_same_when_built_again(package: Package, tmp_path: Path) -> None:
    again = build(tmp_path / "again.zip", progress=lambda _: None)

    assert again.installed.cached
    assert again.output.read_bytes() == package.output.read_bytes()
    names = zip_names(package)
    assert names == sorted(names)
    with zipfile.ZipFile(package.output) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {info.external_attr >> 16 for info in archive.infolist()} <= {0o100644, 0o100755}


# Every runtime requirement and a module that needs it whole (native parts included); the ones
# the app imports only when a setting asks (identity, telemetry, the graph transport) too.
REQUIREMENT_MODULES = {
    "azure-functions": "azure.functions",
    "azure-data-tables": "azure.data.tables",
    "azure-storage-queue": "azure.storage.queue",
    "azure-identity": "azure.identity",
    "azure-monitor-opentelemetry": "azure.monitor.opentelemetry",
    "pydantic": "pydantic_core._pydantic_core",
    "PyJWT": "cryptography.hazmat.bindings._rust",
    "python-dateutil": "dateutil.rrule",
    "odata-query": "odata_query.grammar",
    "icalendar": "icalendar.timezone.windows_to_olson",
    "tzdata": "tzdata",
    "msal": "msal",
    "requests": "requests",
}

INDEX_THE_APP = """
import importlib, json, pkgutil, sys

import function_app

functions = [
    [function.get_function_name(), json.loads(function.get_function_json())]
    for function in function_app.app.get_functions()
]
modules = []
for package in ("cancel", "notify", "shared"):
    found = pkgutil.walk_packages(importlib.import_module(package).__path__, package + ".")
    modules += [importlib.import_module(module.name).__name__ for module in found]
for name in sys.argv[1:]:
    importlib.import_module(name)
import jwt.algorithms
assert jwt.algorithms.has_crypto
files = {name: getattr(module, "__file__", None) for name, module in sys.modules.items()}
print(json.dumps({"path": sys.path, "functions": functions, "modules": modules, "files": files}))
"""


def fresh_python(code: str, *arguments: str, pythonpath: list[Path], cwd: Path) -> Any:
    """`code` in a new interpreter that sees the stdlib and `pythonpath`, nothing else.

    -S: no site, so not this virtualenv's site-packages; -s: no user site; -P: neither the
    current folder nor a script's. (-I would also drop PYTHONPATH, which is the point here.)
    """
    env = {"PATH": os.defpath, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in pythonpath)
    result = subprocess.run(
        [sys.executable, "-P", "-S", "-s", "-c", code, *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_unpacked_zip_alone_imports_the_app_and_indexes_every_function(
    package: Package, tmp_path: Path
) -> None:
    unpacked = tmp_path / "wwwroot"
    unpacked.mkdir()
    with zipfile.ZipFile(package.output) as archive:
        archive.extractall(unpacked)
    site_packages = unpacked / PACKAGES_IN_ZIP
    stdlib = fresh_python(
        "import json, sys; print(json.dumps(sys.path))", pythonpath=[], cwd=tmp_path
    )
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    named = [re.match(r"[A-Za-z0-9._-]*", line.strip()) for line in requirements]
    assert sorted(REQUIREMENT_MODULES) == sorted(name[0] for name in named if name and name[0])

    seen = fresh_python(
        INDEX_THE_APP,
        *REQUIREMENT_MODULES.values(),
        pythonpath=[unpacked, site_packages],
        cwd=tmp_path,
    )

    assert seen["path"] == [str(unpacked), str(site_packages), *stdlib]
    where = (str(unpacked) + os.sep, *(path + os.sep for path in stdlib if path))
    outside = {
        name: file for name, file in seen["files"].items() if file and not file.startswith(where)
    }
    assert outside == {}
    assert seen["files"]["function_app"] == str(unpacked / "function_app.py")
    assert seen["files"]["azure.functions"].startswith(str(site_packages))
    assert seen["files"]["pydantic_core._pydantic_core"].endswith("x86_64-linux-gnu.so")
    assert "shared.transports.graph" in seen["modules"]

    import function_app

    function_app.app.functions_bindings = None  # get_functions() refuses names it saw before
    here = [
        [function.get_function_name(), json.loads(function.get_function_json())]
        for function in function_app.app.get_functions()
    ]
    assert sorted(seen["functions"]) == sorted(here)
    triggers = {
        binding["type"]
        for _, function in seen["functions"]
        for binding in function["bindings"]
        if binding["type"].endswith("Trigger")
    }
    assert triggers == {"httpTrigger", "queueTrigger", "timerTrigger"}
