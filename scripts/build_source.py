"""Build the functions' source zip: what Cloud Functions needs to run main.py, and nothing else.

Deterministic (sorted entries, fixed timestamps and modes), so its hash, which Terraform puts in
the object name, changes only when the code does.

Usage: python scripts/build_source.py [OUTPUT]   (default: build/function-source.zip)
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "build" / "function-source.zip"
FILES = ("main.py", "requirements.txt")
PACKAGES = ("functions", "shared")
SKIP_PARTS = {"__pycache__"}
SKIP_SUFFIXES = {".pyc", ".pyo"}


def sources() -> list[Path]:
    found = [ROOT / f for f in FILES]
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and not SKIP_PARTS & set(path.parts) and path.suffix not in SKIP_SUFFIXES:
                found.append(path)
    return sorted(found)


def build(output: Path = DEFAULT_OUTPUT) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sources():
            info = zipfile.ZipInfo(path.relative_to(ROOT).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    tmp.replace(output)
    return output


if __name__ == "__main__":
    out = build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT)
    print(out.relative_to(ROOT) if out.is_relative_to(ROOT) else out)
