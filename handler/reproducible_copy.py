"""Copy a built package into ARTIFACTS_DIR so that the same commit zips to the same bytes anywhere.

    python3 reproducible_copy.py STAGE ARTIFACTS_DIR

handler/Makefile runs this last. `sam package`/`sam deploy` zip ARTIFACTS_DIR with SAM's
make_zip_with_lambda_permissions: every entry dated 1980, but each file's own mode (plus 0444) and
the folders' order as the filesystem lists them (os.walk, unsorted). A different zip is a
different CodeSha256 and S3 key, so AutoPublishAlias publishes a new version of unchanged code.
So this copy:
- creates every entry in name order (filesystems that list in creation order then agree; uv
  installs wheels in parallel, so the stage's own order varies from build to build);
- gives files 0644 (0755 when the wheel marked them executable) and folders 0755, whatever the
  umask or the checkout's modes;
- dates everything SOURCE_DATE_EPOCH (default 1980-01-01), for any other tool that zips it;
- drops the RECORD lines of files the Makefile removed (console scripts, whose hash covers a
  shebang naming the build machine's Python).
ARTIFACTS_DIR is emptied first, so that no file of an earlier build (an unchecked .pyc above
all) survives; it must be empty or hold an earlier build.
Any Python 3 runs this; it imports nothing outside the standard library.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH") or 315532800)  # 1980-01-01, zip's first day
MARKER = "billing_portal"  # what says a folder holds an earlier build


def fail(message: str) -> None:
    raise SystemExit(f"reproducible_copy.py: {message}")


def empty(folder: Path) -> None:
    entries = sorted(folder.iterdir()) if folder.exists() else []
    if entries and not (folder / MARKER).is_dir():
        fail(f"{folder} is not empty and holds no earlier build; give an empty folder")
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    folder.mkdir(parents=True, exist_ok=True)


def record_without_missing(record: Path, root: Path) -> bytes:
    """RECORD's lines, less those naming a file the stage no longer has (paths are relative to
    the install folder; a comma may be quoted, but no path we drop has one)."""
    lines = record.read_bytes().splitlines(keepends=True)
    return b"".join(line for line in lines if (root / line.decode().split(",")[0]).exists())


def copy(source: Path, target: Path, root: Path) -> None:
    for entry in sorted(source.iterdir(), key=lambda path: path.name):
        destination = target / entry.name
        if entry.is_symlink():
            fail(f"{entry} is a symbolic link; a wheel should not hold one")
        if entry.is_dir():
            destination.mkdir()
            copy(entry, destination, root)
            destination.chmod(0o755)
        else:
            if entry.name == "RECORD" and entry.parent.name.endswith(".dist-info"):
                destination.write_bytes(record_without_missing(entry, root))
            else:
                shutil.copyfile(entry, destination)
            executable = entry.stat().st_mode & 0o111
            destination.chmod(0o755 if executable else 0o644)
        os.utime(destination, (EPOCH, EPOCH))


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        fail("usage: python3 reproducible_copy.py STAGE ARTIFACTS_DIR")
    stage, artifacts = Path(argv[0]), Path(argv[1])
    if not stage.is_dir():
        fail(f"{stage} is not a folder")
    empty(artifacts)
    copy(stage, artifacts, stage)


if __name__ == "__main__":
    main(sys.argv[1:])
