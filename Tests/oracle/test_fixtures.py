"""The committed fixtures are exactly what the committed generator makes (no hand edits)."""
import pathlib
import shutil
import subprocess
import sys

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "Fixtures"


def test_generator_reproduces_every_committed_fixture(tmp_path):
    shutil.copy(FIXTURES / "generate.py", tmp_path / "generate.py")
    run = subprocess.run([sys.executable, str(tmp_path / "generate.py")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    committed = sorted(p.relative_to(FIXTURES) for p in FIXTURES.rglob("*") if p.is_file() and p.name != "generate.py"
                       and "__pycache__" not in p.parts)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file() and p.name != "generate.py"
                       and "__pycache__" not in p.parts)
    assert committed == generated
    for relative in committed:
        assert (FIXTURES / relative).read_bytes() == (tmp_path / relative).read_bytes(), f"{relative} differs"
