"""Fixtures for the black-box suite: start the real `minivna serve` binary on a free port.

The binary is `$MINIVNA_BIN` when set, else `.build/debug/minivna` of this repository.
Each server gets its own temporary data folder (per module, or per test where isolation
matters) and is killed at teardown.
"""
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

START_TIMEOUT = 30.0


def binary_path() -> pathlib.Path:
    env = os.environ.get("MINIVNA_BIN")
    if env:
        return pathlib.Path(env).expanduser().resolve()
    return REPO / ".build" / "debug" / "minivna"


class Server:
    """One running `minivna serve` process."""

    def __init__(self, binary, data_dir, extra_args=(), env=None):
        self.binary = str(binary)
        self.env = dict(env or {})
        self.data_dir = str(data_dir)
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.data_dir + ".log")

    @property
    def origin(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def base(self):
        return f"{self.origin}/dicom-web"

    def start(self):
        # AI enrichment is on by default in the product; a test that does not ask for it
        # (an --ai-* option) runs without it, so no SR appears in the studies it counts.
        ai = [] if any(str(a).startswith("--ai") for a in self.extra_args) else ["--no-ai"]
        cmd = [self.binary, "serve", "--host", "127.0.0.1", "--port", "0",
               "--data", self.data_dir, *ai, *self.extra_args]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log,
                                     stdin=subprocess.DEVNULL, env={**os.environ, **self.env})
        line_box = []

        def read_first_line():
            line_box.append(self.proc.stdout.readline())
            # Keep draining so a chatty server never blocks on a full pipe.
            for _ in self.proc.stdout:
                pass

        reader = threading.Thread(target=read_first_line, daemon=True)
        reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not line_box and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.02)
        if not line_box or not line_box[0]:
            self.kill()
            raise RuntimeError(f"minivna serve did not start: {' '.join(cmd)}\n"
                               f"log:\n{self.log()}")
        line = line_box[0].decode().strip()
        prefix = "listening on http://127.0.0.1:"
        if not line.startswith(prefix):
            self.kill()
            raise RuntimeError(f"unexpected first stdout line {line!r}")
        self.port = int(line[len(prefix):].rstrip("/"))
        return self

    def log(self):
        try:
            return pathlib.Path(self.log_path).read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill(self, sig=signal.SIGKILL):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def stop(self):
        self.kill(signal.SIGTERM)


def _missing_binary_message():
    path = binary_path()
    if path.is_file() and os.access(path, os.X_OK):
        return None
    return (f"minivna binary not found or not executable at {path}: build it with "
            f"`swift build --product minivna` or set MINIVNA_BIN")


def pytest_collection_modifyitems(config, items):
    """Stop the whole run at once, with one clear line, when the binary is missing."""
    if any(HERE in pathlib.Path(str(item.fspath)).resolve().parents for item in items):
        message = _missing_binary_message()
        if message:
            raise pytest.UsageError(message)


@pytest.fixture(scope="session")
def minivna_bin():
    message = _missing_binary_message()
    if message:
        pytest.fail(message, pytrace=False)
    return binary_path()


@pytest.fixture(scope="session")
def curl_bin():
    path = shutil.which("curl")
    if not path:
        pytest.fail("curl is not installed (apt-get install curl)", pytrace=False)
    return path


@pytest.fixture
def tmp_data_root():
    root = tempfile.mkdtemp(prefix="minivna-bb-")
    yield pathlib.Path(root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def start_server(minivna_bin):
    """Factory: start_server(*args, data_dir=None, env=None) -> Server; all are killed at teardown."""
    servers = []
    roots = []

    def start(*args, data_dir=None, env=None):
        if data_dir is None:
            data_dir = tempfile.mkdtemp(prefix="minivna-bb-")
            roots.append(data_dir)
        srv = Server(minivna_bin, data_dir, args, env=env).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.kill()
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)
        try:
            os.unlink(root + ".log")
        except OSError:
            pass


@pytest.fixture(scope="module")
def module_server(minivna_bin):
    """A server with a fresh data folder shared by the tests of one module."""
    root = tempfile.mkdtemp(prefix="minivna-bb-")
    srv = Server(minivna_bin, root).start()
    yield srv
    srv.kill()
    shutil.rmtree(root, ignore_errors=True)
    try:
        os.unlink(root + ".log")
    except OSError:
        pass
