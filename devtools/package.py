"""The zip a deployment uploads: the app as `.funcignore` lets it through, and its packages.

    python -m devtools.package [--output dist/app.zip] [--refresh]     (./dev package)

The app's files are the working tree less what `.funcignore` ignores, matched as git matches a
`.gitignore`, and less what Core Tools (`func azure functionapp publish`) always leaves out.
`requirements.txt` is installed for Linux x86_64 CPython 3.11 (wheels only) into
`.python_packages/lib/site-packages`, where the Python worker looks for them. The installed
packages are kept in `.tools/package/<key>/`, keyed by requirements.txt and the pip command, so a
second build (CI's test, then `./dev package`) only zips; `--refresh` resolves them again.

A requirement published as source only is built into a wheel here when that wheel is pure
Python (`none-any`), and named in the output; one that would be native is refused. pip evaluates
environment markers for the interpreter that runs it, so build on Linux with CPython 3.11.

Entries are sorted, dated 1980-01-01 and carry only a 644/755 mode, so the same files make the
same zip; no `__pycache__`, `.pyc` or console scripts (`bin/`, whose shebangs name this machine).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".tools" / "package"
PACKAGES_IN_ZIP = ".python_packages/lib/site-packages"
TARGET = (
    "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
    "--implementation", "cp", "--python-version", "3.11", "--only-binary=:all:",
)  # fmt: skip
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

# Core Tools leaves these out whatever .funcignore says, by name at any depth, ignoring case
# (FileSystemHelpers.GetLocalFiles). `.python_packages/` is ours to write.
ALWAYS_LEFT_OUT_DIRECTORIES = frozenset({".git", ".vscode"})
ALWAYS_LEFT_OUT_FILES = frozenset(
    {".funcignore", ".gitignore", "local.settings.json", "project.lock.json"}
)
_NO_DISTRIBUTION = re.compile(r"No matching distribution found for (\S+)")
_PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MAX_SOURCE_BUILDS = 5
_KEPT_INSTALLS = 3


class PackagingError(Exception):
    """The package cannot be built; the message says why."""


# --- .funcignore, as git reads a .gitignore ------------------------------------------------------


@dataclass(frozen=True)
class IgnoreRule:
    """One pattern line of an ignore file."""

    pattern: str
    negated: bool
    directory_only: bool
    anchored: bool
    """Matched against the whole path from the root (the pattern has a `/` before its end);
    otherwise against the last segment, at any depth."""
    regex: re.Pattern[str]

    def matches(self, path: str, *, is_dir: bool) -> bool:
        if self.directory_only and not is_dir:
            return False
        subject = path if self.anchored else path.rpartition("/")[2]
        return self.regex.fullmatch(subject) is not None


class IgnoreRules:
    """The rules of one ignore file at the root; the last rule that matches a path decides."""

    def __init__(self, rules: Sequence[IgnoreRule]) -> None:
        self.rules = tuple(rules)

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        parsed = (parse_rule(line) for line in text.splitlines())
        return cls([rule for rule in parsed if rule is not None])

    def ignores_entry(self, path: str, *, is_dir: bool) -> bool:
        """Whether `path` itself is ignored, its parent directories taken as not ignored."""
        ignored = False
        for rule in self.rules:
            if rule.matches(path, is_dir=is_dir):
                ignored = not rule.negated
        return ignored

    def ignores(self, path: str, *, is_dir: bool = False) -> bool:
        """Whether `path` is ignored: git never looks inside an ignored directory, so nothing
        under one can be brought back by a later `!` rule."""
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            if self.ignores_entry("/".join(parts[:depth]), is_dir=True):
                return True
        return self.ignores_entry("/".join(parts), is_dir=is_dir)


def parse_rule(line: str) -> IgnoreRule | None:
    """One line of a .gitignore (gitignore(5)); None for blank lines and comments."""
    line = _strip_trailing_spaces(line.rstrip("\r"))
    if not line or line.startswith("#"):
        return None
    negated = line.startswith("!")
    pattern = line[1:] if negated else line
    directory_only = pattern.endswith("/")
    pattern = pattern.rstrip("/") if directory_only else pattern
    anchored = "/" in pattern
    pattern = pattern.lstrip("/") if anchored else pattern
    if not pattern:
        return None
    return IgnoreRule(line, negated, directory_only, anchored, re.compile(translate(pattern)))


def _strip_trailing_spaces(line: str) -> str:
    # "Trailing spaces are ignored unless they are quoted with backslash."
    while line.endswith(" "):
        body = line[:-1]
        backslashes = len(body) - len(body.rstrip("\\"))
        if backslashes % 2:
            break
        line = body
    return line


def translate(pattern: str) -> str:
    """A gitignore glob as a regular expression over `/`-separated paths (wildmatch rules).

    `*` and `?` never match `/`; `**` between slashes (or at either end) matches any number of
    directories; any other `**` is a `*`; `[...]` is a bracket expression; `\\` quotes.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            whole_segment = (i == 0 or pattern[i - 1] == "/") and (j == n or pattern[j] == "/")
            if j - i >= 2 and whole_segment:
                if j == n:
                    out.append(".*")
                else:
                    out.append("(?:.*/)?")
                    j += 1  # the slash after `**/` is part of "zero or more directories"
            else:
                out.append("[^/]*")
            i = j
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            bracket, i = _bracket(pattern, i)
            out.append(bracket)
        elif char == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def _bracket(pattern: str, start: int) -> tuple[str, int]:
    """The bracket expression at `start` as a regex class, and the index after it; an unclosed
    `[` is a literal one."""
    i, n = start + 1, len(pattern)
    negated = i < n and pattern[i] in "!^"
    i += negated
    members: list[str] = []
    first = True
    while i < n and (pattern[i] != "]" or first):
        first = False
        low = pattern[i + 1] if pattern[i] == "\\" and i + 1 < n else pattern[i]
        i += 2 if pattern[i] == "\\" and i + 1 < n else 1
        if i + 1 < n and pattern[i] == "-" and pattern[i + 1] != "]":
            high = pattern[i + 2] if pattern[i + 1] == "\\" and i + 2 < n else pattern[i + 1]
            i += 3 if pattern[i + 1] == "\\" and i + 2 < n else 2
            members.append(f"{re.escape(low)}-{re.escape(high)}")
        else:
            members.append(re.escape(low))
    if i >= n:
        return re.escape("["), start + 1
    body = "".join(members)
    # With a pathname match, no bracket expression matches a slash.
    return (f"[^{body}/]" if negated else f"(?!/)[{body}]"), i + 1


def app_files(root: Path, rules: IgnoreRules, *, leave_out: Collection[Path] = ()) -> list[str]:
    """The files under `root` that a deployment takes, as sorted `/`-separated paths."""
    left_out = {path.resolve() for path in leave_out}
    found: list[str] = []

    def visit(directory: Path, prefix: str) -> None:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        for entry in entries:
            path, is_dir = prefix + entry.name, entry.is_dir(follow_symlinks=False)
            if _always_left_out(entry.name, is_dir=is_dir, top=not prefix):
                continue
            if rules.ignores_entry(path, is_dir=is_dir):
                continue
            if is_dir:
                visit(Path(entry.path), path + "/")
            elif entry.is_file() and Path(entry.path).resolve() not in left_out:
                found.append(path)

    visit(root, "")
    return sorted(found)


def _always_left_out(name: str, *, is_dir: bool, top: bool) -> bool:
    if is_dir:
        return name.lower() in ALWAYS_LEFT_OUT_DIRECTORIES or (top and name == ".python_packages")
    return name.lower() in ALWAYS_LEFT_OUT_FILES


# --- runtime packages ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    """Runtime requirements installed for the deployment's platform."""

    site_packages: Path
    cached: bool
    built_from_source: tuple[str, ...]
    """Wheels installed that the index does not have: pure Python, built here from source."""


def runtime_packages(
    requirements: Path, *, refresh: bool = False, progress: Callable[[str], None] = print
) -> Installed:
    """`requirements` installed for Linux x86_64 CPython 3.11, from `.tools/package` if there."""
    key = cache_key(requirements)
    final = CACHE / key
    if final.is_dir() and not refresh:
        return Installed(final / "site-packages", True, _read_built(final))
    _warn_if_not_target(progress)
    CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=CACHE))
    try:
        progress(f"installing {requirements.name} for Linux x86_64 CPython 3.11 (pip)")
        built = _pip_install(requirements, staging / "site-packages", CACHE / "wheels", progress)
        (staging / "built-from-source.txt").write_text("".join(f"{b}\n" for b in built))
        if refresh and final.exists():
            shutil.rmtree(final)
        try:
            staging.rename(final)
        except OSError:
            if not final.is_dir():  # else another build finished first: the same packages
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _prune(CACHE, keep=final)
    return Installed(final / "site-packages", False, _read_built(final))


def cache_key(requirements: Path) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update("\0".join((*TARGET, metadata.version("pip"))).encode())
    return digest.hexdigest()[:16]


def _pip_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "pip", *arguments, "--disable-pip-version-check", "--no-input"]


def _pip_install(
    requirements: Path, target: Path, wheels: Path, progress: Callable[[str], None]
) -> tuple[str, ...]:
    """Install into `target`; the names of the wheels it took from `wheels` (built here)."""
    wheels.mkdir(parents=True, exist_ok=True)
    attempted: list[str] = []
    while True:
        shutil.rmtree(target, ignore_errors=True)
        command = _pip_command("install", "--target", str(target), "--no-compile", *TARGET)
        command += ["--find-links", str(wheels), "-r", str(requirements)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            break
        missing = _NO_DISTRIBUTION.search(result.stderr)
        if missing is None or missing[1] in attempted or len(attempted) >= _MAX_SOURCE_BUILDS:
            raise PackagingError(f"pip install failed:\n{_tail(result.stderr)}")
        progress(f"{missing[1]}: no wheel for Linux x86_64 CPython 3.11; building it from source")
        _build_pure_wheel(missing[1], wheels)
        attempted.append(missing[1])
    taken = (w.name for w in sorted(wheels.glob("*.whl")))
    return tuple(w for w in taken if (target / f"{'-'.join(w.split('-')[:2])}.dist-info").is_dir())


def _build_pure_wheel(requirement: str, wheels: Path) -> None:
    name = _PROJECT_NAME.match(requirement)
    if name is None:
        raise PackagingError(f"cannot read a project name in {requirement!r}")
    with tempfile.TemporaryDirectory() as scratch:
        command = _pip_command("wheel", "--no-deps", "--no-binary", name.group(0), "-w", scratch)
        result = subprocess.run([*command, requirement], capture_output=True, text=True)
        made = sorted(Path(scratch).glob("*.whl"))
        if result.returncode != 0 or len(made) != 1:
            raise PackagingError(f"{requirement} has no wheel and does not build one:\n"
                                 f"{_tail(result.stderr)}")  # fmt: skip
        wheel = made[0]
        if wheel.stem.split("-")[-2:] != ["none", "any"]:
            raise PackagingError(
                f"{requirement} has no wheel for Linux x86_64 CPython 3.11, and its source builds "
                f"{wheel.name}, which is not pure Python: it cannot be built for Azure here"
            )
        shutil.copyfile(wheel, wheels / wheel.name)


def _read_built(installed: Path) -> tuple[str, ...]:
    record = installed / "built-from-source.txt"
    return tuple(record.read_text().split()) if record.exists() else ()


def _prune(cache: Path, *, keep: Path) -> None:
    """Keep the newest few installs: another checkout sharing `.tools` may still want one."""
    installs = [path for path in cache.iterdir() if path.is_dir() and len(path.name) == 16]
    installs.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    for stale in [path for path in installs if path != keep][_KEPT_INSTALLS - 1 :]:
        shutil.rmtree(stale, ignore_errors=True)


def _warn_if_not_target(progress: Callable[[str], None]) -> None:
    here = (sys.platform, platform.machine(), sys.implementation.name, sys.version_info[:2])
    if here != ("linux", "x86_64", "cpython", (3, 11)):
        progress(
            "warning: not Linux x86_64 CPython 3.11: pip evaluates dependencies' environment "
            "markers for this interpreter, so the package may not match Azure's"
        )


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def package_files(site_packages: Path) -> Iterator[tuple[str, Path]]:
    """The installed packages as zip entries; no bytecode, no console scripts."""
    for directory, subdirectories, files in os.walk(site_packages):
        here = Path(directory)
        relative = here.relative_to(site_packages).as_posix()
        subdirectories[:] = [
            name
            for name in subdirectories
            if name != "__pycache__" and not (relative == "." and name == "bin")
        ]
        for name in files:
            if not name.endswith(".pyc"):
                inside = name if relative == "." else f"{relative}/{name}"
                yield f"{PACKAGES_IN_ZIP}/{inside}", here / name


# --- the zip -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """What `build` wrote."""

    output: Path
    app_files: tuple[str, ...]
    entries: int
    size: int
    installed: Installed
    untracked: tuple[str, ...]
    """App files git does not track: a deployment would take them, but a clean checkout has none."""
    seconds: float


def build(
    output: Path,
    *,
    root: Path = ROOT,
    refresh: bool = False,
    progress: Callable[[str], None] = print,
) -> Package:
    """Write the deployment zip of the app at `root` to `output`."""
    started = time.monotonic()
    funcignore = root / ".funcignore"
    rules = IgnoreRules.parse(funcignore.read_text("utf-8") if funcignore.exists() else "")
    files = app_files(root, rules, leave_out=[output])
    if "host.json" not in files:
        raise PackagingError(f"{root} has no host.json (or .funcignore leaves it out)")
    installed = runtime_packages(root / "requirements.txt", refresh=refresh, progress=progress)
    entries = [(name, root / name) for name in files]
    entries += package_files(installed.site_packages)
    write_zip(output, entries)
    return Package(
        output=output,
        app_files=tuple(files),
        entries=len(entries),
        size=output.stat().st_size,
        installed=installed,
        untracked=_untracked(root, files),
        seconds=time.monotonic() - started,
    )


def write_zip(output: Path, entries: Sequence[tuple[str, Path]]) -> None:
    """A zip of `entries` (name in the zip, file) in name order, written whole or not at all."""
    names = [name for name, _ in entries]
    if len(set(names)) != len(names):
        raise PackagingError("two files would have the same name in the zip")
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, source in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # Unix, so the mode below is read
                executable = source.stat().st_mode & 0o111
                info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
                with source.open("rb") as data, archive.open(info, "w") as sink:
                    shutil.copyfileobj(data, sink, 1 << 20)
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)


def _untracked(root: Path, files: Sequence[str]) -> tuple[str, ...]:
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=False
    )
    if listed.returncode != 0:
        return ()
    tracked = set(os.fsdecode(listed.stdout).split("\0"))
    return tuple(name for name in files if name not in tracked)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./dev package", description="Build the zip a deployment uploads."
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("dist/app.zip"),
        help="where to write the zip (./dev runs from the repository's root); default %(default)s",
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="resolve and install requirements.txt again instead of reusing .tools/package",
    )
    args = parser.parse_args(argv)

    def progress(message: str) -> None:
        print(message, file=sys.stderr)

    try:
        package = build(args.output, refresh=args.refresh, progress=progress)
    except PackagingError as error:
        print(f"package: {error}", file=sys.stderr)
        return 1
    installed = package.installed
    origin = "reused from .tools/package" if installed.cached else "installed"
    print(
        f"{package.output}: {package.size / 1e6:.1f} MB, {package.entries} files "
        f"({len(package.app_files)} of the app), packages {origin}, {package.seconds:.1f} s"
    )
    for wheel in installed.built_from_source:
        print(f"note: {wheel} was built here from source: the index has no wheel of it")
    if package.untracked:
        print(
            f"warning: {len(package.untracked)} packaged files are not tracked by git "
            f"(add them to .funcignore if they are not the app's): {', '.join(package.untracked)}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
