"""The real-file corpus the oracle and round-trip tests run over: every file in pydicom's
data/test_files and charset_files, and in pydicom-data's data folder (pip package
`pydicom-data`, module `data_store`)."""
import os
import pathlib

import pydicom


def corpus_dirs() -> list[pathlib.Path]:
    pydicom_data = pathlib.Path(pydicom.__file__).parent / "data"
    dirs = [pydicom_data / "test_files", pydicom_data / "charset_files"]
    try:
        import data_store  # provided by the pydicom-data package

        dirs.append(pathlib.Path(data_store.__file__).parent / "data")
    except ImportError as exc:  # the README's test command installs it: missing means a broken setup
        raise RuntimeError("pydicom-data is not installed (pip install pydicom-data)") from exc
    return dirs


def corpus_files() -> list[pathlib.Path]:
    files = []
    for d in corpus_dirs():
        for root, _, names in os.walk(d):
            for name in names:
                if name.endswith((".py", ".pyc")):
                    continue
                files.append(pathlib.Path(root) / name)
    return sorted(files)


def corpus_id(path: pathlib.Path) -> str:
    """A stable short name: the folder it came from and the file name."""
    for d in corpus_dirs():
        try:
            return f"{d.name}/{path.relative_to(d)}"
        except ValueError:
            continue
    return str(path)


def minivna_binary() -> str:
    root = pathlib.Path(__file__).resolve().parents[2]
    for candidate in (os.environ.get("MINIVNA_BIN"), root / ".build/release/minivna", root / ".build/debug/minivna"):
        if candidate and pathlib.Path(candidate).exists():
            return str(candidate)
    raise RuntimeError("minivna is not built: run `swift build -c release` (or set MINIVNA_BIN)")
