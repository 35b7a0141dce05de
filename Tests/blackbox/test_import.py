"""`minivna import` of pydicom's test corpus: every file in exactly one count of the summary,
failures grouped by reason, a progress bar on a terminal only, `verify` clean afterwards, and a
second import finding everything already stored."""
import os
import pathlib
import pty
import re
import subprocess

import pydicom.data

CORPUS = pathlib.Path(pydicom.data.__file__).parent / "test_files"
SUMMARY = re.compile(r"imported (\d+), already stored (\d+), replaced (\d+), failed (\d+) of (\d+) files")


def run_import(binary, data, *extra):
    return subprocess.run([str(binary), "import", "--data", str(data), *extra, str(CORPUS)],
                          capture_output=True, text=True, timeout=600)


def test_import_of_the_pydicom_corpus_has_an_exact_summary_and_verify_is_clean(minivna_bin, tmp_path):
    files = [p for p in CORPUS.rglob("*") if p.is_file()]
    result = run_import(minivna_bin, tmp_path / "data")
    assert result.returncode == 0, result.stderr
    stored, already, replaced, failed, total = map(int, SUMMARY.search(result.stdout).groups())
    assert total == len(files) and stored + already + replaced + failed == total
    assert stored > 100 and failed > 0
    # Each failure reason line counts its files; together they are the failed count.
    reasons = [int(m.group(1)) for m in re.finditer(r"^\s+(\d+) failed: ", result.stdout, re.M)]
    assert sum(reasons) == failed
    assert "not a DICOM instance the archive can read" in result.stdout
    # Without a terminal: one line per skipped file on stderr, no progress bar.
    assert result.stderr.count("skipped ") == failed and "\r[" not in result.stderr
    verify = subprocess.run([str(minivna_bin), "verify", "--data", str(tmp_path / "data")], capture_output=True, text=True)
    assert verify.returncode == 0 and "clean" in verify.stdout
    again = run_import(minivna_bin, tmp_path / "data")
    stored2, already2, _, failed2, _ = map(int, SUMMARY.search(again.stdout).groups())
    assert stored2 == 0 and already2 == stored + already and failed2 == failed


def test_a_terminal_gets_a_progress_bar(minivna_bin, tmp_path):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(str(minivna_bin), [str(minivna_bin), "import", "--data", str(tmp_path / "data"), str(CORPUS)])
    output = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert "\r[" in text and "files," in text and "MB/s" in text
    assert SUMMARY.search(text)
