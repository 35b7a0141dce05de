#!/usr/bin/env python3
"""Robustness run against a real `minivna serve`: bad input, slow and idle clients, a read-only
data volume, and mixed load. Bounded (a few minutes), loopback only, self-contained.

    python3 Benchmarks/robustness.py [--binary PATH] [--duration-seconds 60]
                                     [--token TOKEN] [--keep]

It starts its own server (`serve --host 127.0.0.1 --port 0 --no-ai`) on a temporary data
folder into which Fixtures/ct was imported (`minivna import`) and runs five phases:

  1. malformed   Bad input sent byte for byte over raw sockets: HTTP framing (a body shorter
                 than its Content-Length then half-close or close, invalid or truncated chunked
                 bodies, 200 KB headers, garbage request lines, bad Content-Length values), STOW
                 bodies (broken multipart boundaries, parts that are not DICOM, truncated DICOM,
                 every file of Fixtures/malformed), bad QIDO parameters, WADO/frames/rendered
                 paths with missing, traversing ("../../etc/passwd"), 200-character or
                 non-numeric UIDs, bad FHIR searches and bodies. Requirement per case: an HTTP
                 answer in the expected range (never a 5xx), the process alive and serving
                 after it. For the body-framing cases the expected answer is 400.
  2. slowloris   8 connections that trickle header bytes (one a second, never finishing the
                 header) and 4 STOW uploads whose body is trickled the same way, for
                 --duration-seconds. Requirements: the server closes every one of them within
                 that window (header / body-progress timeouts), and a normal client's QIDO,
                 once a second on a new connection, always succeeds meanwhile.
  3. half-open   128 connections held open at once (64 send nothing, 64 half a request) for
                 --duration-seconds while normal QIDO/WADO requests continue. Requirements:
                 every normal request succeeds; the server closes every idle connection within
                 the window (idle timeout). When each was closed is reported.
  4. readonly    Only as root, with chattr, on a filesystem that supports the immutable flag:
                 `chattr -R +i` on the data folder while the server runs; a STOW must get
                 503 or 507 with a reason, QIDO and WADO must still be served; then
                 `chattr -R -i` and a STOW must succeed without a restart. The flag is always
                 removed again (finally). The process's fate is reported.
  5. mixed       STOW (unique instances: Fixtures/ct files with new UIDs, pydicom), QIDO, WADO
                 and FHIR ImagingStudy clients (threads) for --duration-seconds; per-operation
                 successes, failures and statuses; the server's VmRSS every second (start, peak,
                 end). Then every acknowledged instance (in a 2xx response's
                 ReferencedSOPSequence) must be retrievable (WADO 200), the server must stop
                 cleanly on SIGTERM, and `minivna verify --data DIR` must report clean.

Across all phases: no response (status line, headers or body) may contain a stack trace or
the data folder's file-system path; the process must never die. When the server dies it is
restarted on the same data folder (and the death is a FAIL) so the later phases still run.

With --token TOKEN every request carries `Authorization: Bearer TOKEN`, the server gets
MINIVNA_API_KEYS=robust:admin:TOKEN, and an extra check expects 401 without (or with a wrong)
token.

Output: one line per event while running, then a table of every check (name, PASS/FAIL/SKIP,
counts, details). Exit status 1 when a check FAILs, 2 when the run could not start (binary or
pydicom missing, server does not start), 0 otherwise.

Needs: Python 3.9+, requests, pydicom. The slowloris and half-open closing requirements assume
server timeouts shorter than --duration-seconds (60 s by default).
"""

from __future__ import annotations

import argparse
import collections
import copy
import io
import json
import os
import random
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

try:
    import pydicom
except ImportError:  # reported in main()
    pydicom = None

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIXTURES = REPO / "Fixtures"

T0 = time.monotonic()
TOKEN: str | None = None
VERBOSE = False
SERVER: "Server | None" = None

E4XX = frozenset(range(400, 500))
E4XX_OR_200 = E4XX | {200}


def log(message: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {message}", flush=True)


def auth_headers() -> dict:
    return {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}


def short(data, limit=160) -> str:
    """A printable excerpt of bytes or text."""
    if isinstance(data, (bytes, bytearray)):
        text = bytes(data[:limit]).decode("latin-1")
    else:
        text = str(data)[:limit]
    if TOKEN:
        text = text.replace(TOKEN, "<token>")
    text = text.encode("unicode_escape").decode("ascii")
    return text + ("..." if len(data) > limit else "")


# ---------------------------------------------------------------------------------------------
# Results and the leak scanner

class Results:
    def __init__(self):
        self.rows: list[tuple[str, str, str, str]] = []
        self.lock = threading.Lock()

    def add(self, name: str, result: str, counts: str = "", details: str = "", quiet=False) -> None:
        assert result in ("PASS", "FAIL", "SKIP"), result
        with self.lock:
            self.rows.append((name, result, counts, details))
        if not quiet:
            log(f"{result} {name}: {counts} {details}".rstrip())

    def check(self, name: str, ok: bool, counts: str = "", details: str = "") -> bool:
        self.add(name, "PASS" if ok else "FAIL", counts, details)
        return ok

    def failed(self) -> list:
        return [r for r in self.rows if r[1] == "FAIL"]

    def table(self) -> str:
        rows = list(self.rows)
        w_name = max([len("check")] + [len(r[0]) for r in rows])
        w_counts = min(46, max([len("counts")] + [len(r[2]) for r in rows]))
        lines = [f"{'check':<{w_name}}  result  {'counts':<{w_counts}}  details",
                 f"{'-' * w_name}  ------  {'-' * w_counts}  {'-' * 40}"]
        for name, result, counts, details in rows:
            lines.append(f"{name:<{w_name}}  {result:<6}  {counts:<{w_counts}}  {details}")
        n_fail = sum(1 for r in rows if r[1] == "FAIL")
        n_pass = sum(1 for r in rows if r[1] == "PASS")
        n_skip = sum(1 for r in rows if r[1] == "SKIP")
        lines.append(f"{len(rows)} checks: {n_pass} PASS, {n_fail} FAIL, {n_skip} SKIP")
        return "\n".join(lines)


RESULTS = Results()

STACK_PATTERNS = [
    ("stack trace (Fatal error)", re.compile(r"Fatal error")),
    ("stack trace (Stack dump)", re.compile(r"Stack dump")),
    ("stack trace (backtrace)", re.compile(r"\bbacktrace\b", re.I)),
    ("stack trace (Thread N crashed)", re.compile(r"Thread \d+ crashed", re.I)),
    ("source location (*.swift:N)", re.compile(r"\b[A-Za-z0-9_+]+\.swift:\d+")),
    ("source path (/Sources/...)", re.compile(r"/Sources/[A-Za-z]+/")),
    ("Python traceback", re.compile(r"Traceback \(most recent call last\)")),
    ("raw address (0x + 12-16 hex digits)", re.compile(r"\b0x[0-9a-fA-F]{12,16}\b")),
]
TEXT_TYPES = ("json", "text", "xml", "html", "problem")


class LeakScanner:
    """Looks for stack traces and the data folder's path in every response we read."""

    def __init__(self):
        self.needles: list[str] = []
        self.found: list[tuple[str, str, str]] = []
        self.scanned = 0
        self.lock = threading.Lock()

    def configure(self, *paths: str) -> None:
        needles = set()
        for p in paths:
            for variant in (p, os.path.realpath(p)):
                variant = variant.rstrip("/")
                if len(variant) > 4:
                    needles.add(variant)
        self.needles = sorted(needles, key=len, reverse=True)

    def scan(self, where: str, head_text: str, body: bytes, content_type: str | None) -> None:
        scan_body = not content_type or any(t in content_type.lower() for t in TEXT_TYPES)
        text = head_text + "\n" + (bytes(body[:262144]).decode("latin-1") if scan_body else "")
        hits = []
        for needle in self.needles:
            i = text.find(needle)
            if i >= 0:
                hits.append((f"data folder path {needle}", text[max(0, i - 60): i + len(needle) + 60]))
                break
        for label, pattern in STACK_PATTERNS:
            m = pattern.search(text)
            if m:
                hits.append((label, text[max(0, m.start() - 60): m.end() + 60]))
        with self.lock:
            self.scanned += 1
            for label, excerpt in hits:
                if len(self.found) < 200:
                    self.found.append((where, label, excerpt.replace("\r", " ").replace("\n", " ")))

    def scan_response(self, where: str, response: requests.Response, body: bytes | None = None) -> None:
        head = f"HTTP {response.status_code} {response.reason}\n" + "\n".join(
            f"{k}: {v}" for k, v in response.headers.items())
        self.scan(where, head, response.content if body is None else body, response.headers.get("Content-Type"))


LEAKS = LeakScanner()


# ---------------------------------------------------------------------------------------------
# The server process

def signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


class Server:
    START_TIMEOUT = 60.0

    def __init__(self, binary: str, data_dir: str, log_path: str):
        self.binary = binary
        self.data_dir = data_dir
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.deaths: list[tuple[str, str, str]] = []   # (phase, fate, log tail)
        self.starts = 0
        self._log = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        return f"{self.origin}/dicom-web"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> "Server":
        env = dict(os.environ)
        env.pop("MINIVNA_API_KEYS", None)
        if TOKEN:
            env["MINIVNA_API_KEYS"] = f"robust:admin:{TOKEN}"
        cmd = [self.binary, "serve", "--host", "127.0.0.1", "--port", "0", "--data", self.data_dir,
               "--no-ai", "--shutdown-grace-seconds", "5"]
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n==== start {time.strftime('%H:%M:%S')}: {' '.join(cmd)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
                                     env=env)
        self.starts += 1
        box: list[bytes] = []
        proc = self.proc

        def reader():
            box.append(proc.stdout.readline())
            for _ in proc.stdout:   # keep the pipe drained
                pass

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + self.START_TIMEOUT
        while not box and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        line = box[0].decode(errors="replace").strip() if box else ""
        prefix = "listening on http://127.0.0.1:"
        if not line.startswith(prefix):
            self.kill()
            raise RuntimeError(f"minivna serve did not start ({line!r}); log tail:\n{self.log_tail()}")
        self.port = int(line[len(prefix):].rstrip("/"))
        log(f"server pid {proc.pid} listening on port {self.port}")
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def fate(self) -> str:
        if self.proc is None:
            return "not started"
        rc = self.proc.poll()
        if rc is None:
            return "alive"
        if rc < 0:
            return f"killed by {signal_name(-rc)}"
        return f"exited with status {rc}"

    def crash_summary(self) -> str:
        """The crash lines of the last start's log: what crashed, in which thread and frame."""
        text = self.log_tail(400_000)
        text = text[text.rfind("==== start"):] if "==== start" in text else text
        keep = []
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if "Program crashed" in line or "Fatal error" in line:
                keep.append(line.strip(" *"))
            elif line.rstrip().endswith("crashed:"):
                frames = []
                for l in lines[i + 1:i + 12]:
                    if l.startswith("Thread ") or (frames and not l.strip()):
                        break
                    if re.match(r"\s*\d+\s", l):
                        frames.append(l.strip())
                frames = frames[:3]
                keep.append(line.strip() + " " + " / ".join(frames))
            elif " error minivna:" in line and len(keep) < 6:
                keep.append(line.split("] ", 1)[-1].strip())
        return "; ".join(keep[-6:]) if keep else short(self.log_tail(300), 300)

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self._log:
            self._log.close()
            self._log = None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then wait; SIGKILL after timeout. Returns the exit status (None if killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        rc = self.proc.returncode
        if self._log:
            self._log.close()
            self._log = None
        return rc

    def ensure_alive(self, phase: str) -> bool:
        """Records an unexpected death and restarts on the same data folder. False: it was dead."""
        if self.alive():
            return True
        fate = self.fate()
        tail = self.crash_summary()
        self.deaths.append((phase, fate, tail))
        log(f"SERVER DIED during {phase}: {fate}; {tail}")
        if self._log:
            self._log.close()
            self._log = None
        try:
            self.start()
        except RuntimeError as e:
            log(f"restart failed: {e}")
        return False


def healthy(timeout: float = 10.0) -> tuple[bool, str]:
    try:
        r = requests.get(f"{SERVER.base}/studies", params={"limit": "1"}, headers=auth_headers(), timeout=timeout)
        LEAKS.scan_response("health QIDO", r)
        return r.status_code == 200, f"QIDO {r.status_code}"
    except requests.RequestException as e:
        return False, f"QIDO {type(e).__name__}"


# ---------------------------------------------------------------------------------------------
# Raw HTTP over sockets

def build_request(method: str, path, headers=(), body: bytes | None = b"", *, host=True, auth=True,
                  content_length=True, connection_close=True, version="HTTP/1.1") -> bytes:
    path_b = path if isinstance(path, bytes) else path.encode("latin-1")
    lines = [method.encode("latin-1") + b" " + path_b + b" " + version.encode()]
    if host:
        lines.append(f"Host: 127.0.0.1:{SERVER.port}".encode())
    if auth and TOKEN:
        lines.append(f"Authorization: Bearer {TOKEN}".encode())
    explicit = []
    for h in headers:
        hb = h if isinstance(h, bytes) else h.encode("latin-1")
        explicit.append(hb.lower())
        lines.append(hb)
    framed = any(h.startswith(b"content-length") or h.startswith(b"transfer-encoding") for h in explicit)
    if content_length and body is not None and not framed and (body or method in ("POST", "PUT")):
        lines.append(f"Content-Length: {len(body)}".encode())
    if connection_close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def decode_chunked(data: bytes):
    """(body, complete) of a chunked body."""
    out = bytearray()
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return bytes(out), False
        try:
            size = int(data[pos:end].split(b";")[0].strip() or b"x", 16)
        except ValueError:
            return bytes(out), False
        pos = end + 2
        if size == 0:
            return bytes(out), True
        if len(data) < pos + size + 2:
            out += data[pos:]
            return bytes(out), False
        out += data[pos:pos + size]
        pos += size + 2


def parse_response(data: bytes, eof: bool):
    """The first final response in data: dict(status, headers, head, body, complete), or None
    while more bytes are needed."""
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            if eof and data:
                return {"status": None, "headers": {}, "head": data[:300], "body": b"", "complete": False,
                        "garbage": True}
            return None
        head, rest = data[:end], data[end + 4:]
        status_line = head.split(b"\r\n", 1)[0]
        m = re.match(rb"HTTP/\d(?:\.\d)? (\d{3})", status_line)
        if not m:
            return {"status": None, "headers": {}, "head": head[:300], "body": b"", "complete": False,
                    "garbage": True}
        status = int(m.group(1))
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        if 100 <= status < 200:
            data = rest
            continue
        result = {"status": status, "headers": headers, "head": head, "body": rest, "complete": True}
        if "content-length" in headers:
            try:
                n = int(headers["content-length"])
            except ValueError:
                n = len(rest)
            if len(rest) >= n:
                result["body"] = rest[:n]
                return result
            if eof:
                result["complete"] = False
                return result
            return None
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, complete = decode_chunked(rest)
            result["body"] = body
            if complete:
                return result
            if eof:
                result["complete"] = False
                return result
            return None
        if status in (204, 304):
            result["body"] = b""
            return result
        return result if eof else None


def raw_exchange(payload: bytes, *, half_close_after: float | None = None, close_after_send=False,
                 timeout: float = 10.0, send_pieces: list | None = None) -> dict:
    """Sends payload on a new connection and reads the answer.
    outcome: response | closed without response | reset | no response (connection open) | ..."""
    out = {"outcome": None, "status": None, "headers": {}, "head": b"", "body": b"", "send_error": None,
           "elapsed": 0.0, "half_closed": False}
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", SERVER.port), timeout=5)
    except OSError as e:
        out["outcome"] = f"connect failed ({type(e).__name__})"
        return out
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(5)
        try:
            for piece, pause in (send_pieces or [(payload, 0)]):
                s.sendall(piece)
                if pause:
                    time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError) as e:
            out["send_error"] = type(e).__name__
        except socket.timeout:
            out["send_error"] = "send timed out (the server stopped reading)"
        if close_after_send:
            out["outcome"] = "client closed after sending"
            return out
        buf = bytearray()
        eof = False
        reset = False
        deadline = t0 + timeout
        while True:
            parsed = parse_response(bytes(buf), False)
            if parsed is not None:
                break
            now = time.monotonic()
            if half_close_after is not None and not out["half_closed"] and now - t0 >= half_close_after:
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                out["half_closed"] = True
            if now >= deadline:
                break
            limit = deadline
            if half_close_after is not None and not out["half_closed"]:
                limit = min(limit, t0 + half_close_after)
            s.settimeout(max(0.02, limit - now))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                reset = True
                break
            except OSError:
                reset = True
                break
            if not chunk:
                eof = True
                break
            buf += chunk
        parsed = parse_response(bytes(buf), True) if (eof or reset) else parse_response(bytes(buf), False)
        if parsed is None and buf and not eof and not reset:
            parsed = parse_response(bytes(buf), True)   # what arrived before the deadline
        out["elapsed"] = time.monotonic() - t0
        if parsed and parsed.get("status"):
            out.update(status=parsed["status"], headers=parsed["headers"], head=parsed["head"], body=parsed["body"])
            out["outcome"] = "response" if parsed["complete"] else "truncated response"
        elif parsed and parsed.get("garbage"):
            out["outcome"] = f"non-HTTP answer {short(parsed['head'], 60)}"
        elif reset:
            out["outcome"] = "reset without response"
        elif eof:
            out["outcome"] = "closed without response"
        else:
            out["outcome"] = f"no response within {timeout:.0f}s (connection open)"
        return out
    finally:
        try:
            s.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# DICOM and multipart helpers

def new_uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def multipart(parts, boundary: str, part_type="application/dicom", close=True) -> bytes:
    out = bytearray()
    for p in parts:
        out += f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode() + p + b"\r\n"
    if close:
        out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def stow_ctype(boundary: str) -> str:
    return f'multipart/related; type="application/dicom"; boundary={boundary}'


class InstanceFactory:
    """Unique instances: a Fixtures/ct file with new Study/Series/SOP Instance UIDs."""

    def __init__(self):
        self.templates = [pydicom.dcmread(str(p)) for p in sorted((FIXTURES / "ct").glob("*.dcm"))]
        if not self.templates:
            raise RuntimeError("no Fixtures/ct/*.dcm")
        self.lock = threading.Lock()

    def make(self, study: str, series: str, number: int):
        with self.lock:
            ds = copy.deepcopy(random.choice(self.templates))
        sop = new_uid()
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = sop
        ds.InstanceNumber = number
        ds.PatientID = "ROBUST" + study[-6:]
        ds.PatientName = f"Robust^Load{study[-4:]}"
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
        return sop, buf.getvalue()


def referenced_sops(body) -> list[str]:
    out = []
    try:
        for item in body.get("00081199", {}).get("Value", []):
            v = item.get("00081155", {}).get("Value", [])
            if v:
                out.append(v[0])
    except AttributeError:
        pass
    return out


def stow_request(session, parts: list[bytes], timeout=60.0):
    boundary = "rb" + uuid.uuid4().hex
    headers = {"Content-Type": stow_ctype(boundary), "Accept": "application/dicom+json", **auth_headers()}
    return session.post(f"{SERVER.base}/studies", data=multipart(parts, boundary), headers=headers, timeout=timeout)


def known_instances() -> list[tuple[str, str, str]]:
    r = requests.get(f"{SERVER.base}/instances", params={"limit": "100"}, headers=auth_headers(), timeout=30)
    r.raise_for_status()
    out = []
    for item in r.json():
        def v(tag):
            return item.get(tag, {}).get("Value", [None])[0]
        out.append((v("0020000D"), v("0020000E"), v("00080018")))
    return [t for t in out if all(t)]


def wado_path(study, series, sop) -> str:
    return f"/dicom-web/studies/{study}/series/{series}/instances/{sop}"


# ---------------------------------------------------------------------------------------------
# Phase 1: malformed input

class Case:
    def __init__(self, name, build, expect=E4XX, *, close_ok=False, half_close_after=None, close_after_send=False,
                 timeout=10.0, note="", pieces=None):
        self.name = name
        self.build = build          # () -> bytes (built late: the port can change on a restart)
        self.expect = expect
        self.close_ok = close_ok    # closing the connection without an answer is acceptable
        self.half_close_after = half_close_after
        self.close_after_send = close_after_send
        self.timeout = timeout
        self.note = note
        self.pieces = pieces        # () -> [(bytes, pause)] to send in steps


def reason_of(body: bytes) -> str:
    try:
        j = json.loads(body)
        if isinstance(j, dict):
            if isinstance(j.get("error"), str):
                return j["error"]
            if j.get("resourceType") == "OperationOutcome":
                return "; ".join(str(i.get("diagnostics", "")) for i in j.get("issue", []))
    except (ValueError, UnicodeDecodeError):
        pass
    return short(body, 100)


def malformed_cases(known) -> list[Case]:
    study, series, sop = known[0]
    ct = (FIXTURES / "ct" / "ct_0001.dcm").read_bytes()
    b = "robustboundary0123456789"
    good = multipart([ct], b)
    ctype = f"Content-Type: {stow_ctype(b)}"
    post = lambda path, body, *hdrs, **kw: (lambda: build_request("POST", path, [*hdrs], body, **kw))
    get = lambda path, *hdrs, **kw: (lambda: build_request("GET", path, [*hdrs], None, **kw))
    cases: list[Case] = []
    add = cases.append

    # --- HTTP framing: the body ----------------------------------------------------------
    add(Case("http/content-length-longer-than-body+half-close",
             post("/dicom-web/studies", good[:1000], ctype, f"Content-Length: {len(good) + 10000}"),
             {400}, half_close_after=1.5, note="body 1000 of the declared bytes, then shutdown(SHUT_WR)"))
    add(Case("http/content-length-longer-than-body+close",
             post("/dicom-web/studies", good[:1000], ctype, f"Content-Length: {len(good) + 10000}"),
             close_after_send=True, note="then close()"))
    add(Case("http/content-length-longer-than-body+half-close(fhir)",
             post("/fhir/Observation", b'{"resourceType":"Observation","status":"fin',
                  "Content-Type: application/fhir+json", "Content-Length: 4000"),
             {400}, half_close_after=1.5))
    add(Case("http/chunked-invalid-chunk-size",
             post("/dicom-web/studies", b"zz\r\n" + good[:16] + b"\r\n0\r\n\r\n", ctype, "Transfer-Encoding: chunked"),
             {400}, half_close_after=3))
    add(Case("http/chunked-invalid-chunk-size(fhir)",
             post("/fhir/Observation", b"zz\r\n{}\r\n0\r\n\r\n", "Content-Type: application/fhir+json",
                  "Transfer-Encoding: chunked"), {400}, half_close_after=3))
    first = good[:600]
    add(Case("http/chunked-truncated-final-chunk+half-close",
             post("/dicom-web/studies", b"%x\r\n" % len(first) + first + b"\r\n" + b"%x\r\n" % 4096 + good[600:700],
                  ctype, "Transfer-Encoding: chunked"), {400}, half_close_after=1.5,
             note="a 0x1000-byte chunk cut after 100 bytes, then shutdown(SHUT_WR)"))
    add(Case("http/chunked-without-last-chunk+half-close",
             post("/dicom-web/studies", b"%x\r\n" % len(good) + good + b"\r\n", ctype, "Transfer-Encoding: chunked"),
             {400}, half_close_after=1.5, note="the whole body in one chunk, no 0-size chunk, then shutdown(SHUT_WR)"))
    add(Case("http/chunked-and-content-length",
             post("/dicom-web/studies", b"5\r\nhello\r\n0\r\n\r\n", ctype, "Content-Length: 4",
                  "Transfer-Encoding: chunked"), E4XX, close_ok=True, half_close_after=3))
    add(Case("http/content-length-negative",
             post("/dicom-web/studies", b"", ctype, "Content-Length: -1"), {400}, close_ok=True, half_close_after=3))
    add(Case("http/content-length-not-a-number",
             post("/dicom-web/studies", b"", ctype, "Content-Length: abc"), {400}, close_ok=True, half_close_after=3))
    add(Case("http/content-length-huge",
             post("/dicom-web/studies", b"", ctype, "Content-Length: 99999999999999999999999999"), {400, 413},
             close_ok=True, half_close_after=3))
    add(Case("http/content-length-conflicting",
             post("/dicom-web/studies", b"0123456789", ctype, "Content-Length: 10", "Content-Length: 20"), {400},
             close_ok=True, half_close_after=3))

    # --- HTTP framing: the head ----------------------------------------------------------
    add(Case("http/oversized-header-200KB", get("/dicom-web/studies", "X-Big: " + "a" * 200_000),
             {400, 413, 431}, close_ok=True))
    add(Case("http/10000-headers", get("/dicom-web/studies", *[f"X-H{i}: v" for i in range(10_000)]),
             {400, 413, 431}, close_ok=True))
    add(Case("http/oversized-request-line-200KB", get("/dicom-web/studies?PatientName=" + "A" * 200_000),
             {400, 414, 431}, close_ok=True))
    add(Case("http/garbage-request-line-binary",
             lambda: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\xff\xfe\x00\r\n\r\n", {400}, close_ok=True))
    add(Case("http/garbage-request-line-words", lambda: b"THIS IS NOT HTTP AT ALL\r\n\r\n", {400}, close_ok=True))
    add(Case("http/request-line-without-version", lambda: b"GET /dicom-web/studies\r\n\r\n", {400}, close_ok=True))
    add(Case("http/request-line-bad-version", get("/dicom-web/studies", version="HTTP/9.9"), {400, 505},
             close_ok=True))
    add(Case("http/request-line-spaces-in-target", get("/dicom-web/studies /x y"), {400, 404}, close_ok=True))
    add(Case("http/nul-in-header-value", get("/dicom-web/studies", b"X-A: a\x00b"), {400}, close_ok=True))
    add(Case("http/header-without-colon", get("/dicom-web/studies", "NoColonHere"), {400}, close_ok=True))
    add(Case("http/unknown-method", lambda: build_request("BREW", "/dicom-web/studies", [], None),
             {400, 404, 405, 501}))
    add(Case("http/bare-LF-line-ends",
             lambda: f"GET /dicom-web/studies?limit=1 HTTP/1.1\nHost: 127.0.0.1\n".encode()
             + (f"Authorization: Bearer {TOKEN}\n".encode() if TOKEN else b"") + b"Connection: close\n\n",
             {200, 400}, close_ok=True))
    add(Case("http/raw-path-traversal-root", get("/../../../../etc/passwd"), E4XX))

    # --- STOW bodies ---------------------------------------------------------------------
    add(Case("stow/boundary-never-occurs", post("/dicom-web/studies", multipart([ct], "otherboundary"), ctype), {400}))
    add(Case("stow/boundary-garbled-in-body",
             post("/dicom-web/studies", good.replace(f"--{b}\r\n".encode(), f"--{b[:-3]}\r\n".encode(), 1), ctype),
             {400}))
    add(Case("stow/no-close-delimiter", post("/dicom-web/studies", multipart([ct], b, close=False), ctype), {400}))
    add(Case("stow/close-delimiter-only", post("/dicom-web/studies", f"--{b}--\r\n".encode(), ctype), {400}))
    add(Case("stow/empty-body", post("/dicom-web/studies", b"", ctype), {400}))
    add(Case("stow/part-headers-never-end",
             post("/dicom-web/studies", f"--{b}\r\nContent-Type: application/dicom\r\n--{b}--\r\n".encode(), ctype),
             {400}))
    add(Case("stow/content-type-without-boundary",
             post("/dicom-web/studies", good, 'Content-Type: multipart/related; type="application/dicom"'), {400}))
    add(Case("stow/boundary-300-chars",
             post("/dicom-web/studies", multipart([ct], "x" * 300),
                  f'Content-Type: multipart/related; type="application/dicom"; boundary={"x" * 300}'), {400}))
    add(Case("stow/boundary-unterminated-quote",
             post("/dicom-web/studies", good, f'Content-Type: multipart/related; type="application/dicom"; boundary="{b}'),
             {400, 415}))
    add(Case("stow/not-multipart", post("/dicom-web/studies", ct, "Content-Type: application/dicom"), {415}))
    add(Case("stow/part-is-text-not-dicom",
             post("/dicom-web/studies", multipart([b"this is not a DICOM file\n" * 20], b), ctype), {400, 409}))
    add(Case("stow/part-is-random-bytes-64KB",
             post("/dicom-web/studies", multipart([random.Random(7).randbytes(65536)], b), ctype), {400, 409}))
    add(Case("stow/truncated-dicom-half",
             post("/dicom-web/studies", multipart([ct[: len(ct) // 2]], b), ctype), {400, 409}))
    add(Case("stow/truncated-dicom-200-bytes",
             post("/dicom-web/studies", multipart([ct[:200]], b), ctype), {400, 409}))
    add(Case("stow/truncated-dicom-preamble-only",
             post("/dicom-web/studies", multipart([ct[:132]], b), ctype), {400, 409}))
    for f in sorted((FIXTURES / "malformed").glob("*.dcm")):
        add(Case(f"stow/fixture-malformed/{f.stem}",
                 post("/dicom-web/studies", multipart([f.read_bytes()], b), ctype), {400, 409}))
    add(Case("stow/study-path-not-a-uid", post("/dicom-web/studies/1.2.abc", good, ctype), {400}))
    add(Case("stow/study-path-traversal", post("/dicom-web/studies/..%2F..%2Fetc", good, ctype), E4XX))

    # --- QIDO parameters -----------------------------------------------------------------
    long_uid = "1." + "2" * 198
    qido_bad = [
        ("studies?offset=-1", {400}), ("studies?limit=abc", {400}), ("studies?limit=-5", {400}),
        ("studies?NoSuchKey=1", {400}), ("studies?StudyDate=20241301", {400}),
        ("studies?StudyDate=2024-01-01", {400}), ("studies?StudyTime=2561", {400}),
        ("studies?StudyInstanceUID=1.2.abc", {400}), ("studies?fuzzymatching=maybe", {400}),
        ("studies?includefield=NoSuchField", {400}), ("instances?InstanceNumber=one", {400}),
        ("studies?SOPInstanceUID=1.2.3", {400}),
        ("studies?limit=99999999999999999999999", E4XX_OR_200),
        ("studies?offset=99999999999999999999999", E4XX_OR_200),
        ("studies?offset=9223372036854775807", E4XX_OR_200),
        ("studies?limit=9223372036854775807&offset=9223372036854775807", E4XX_OR_200),
        ("instances?limit=9223372036854775807&offset=9223372036854775806", E4XX_OR_200),
        ("studies?PatientName=%ZZ", E4XX_OR_200), ("studies?PatientName=%", E4XX_OR_200),
        ("studies?PatientName=%00", E4XX_OR_200), ("studies?PatientName=%FF%FE%C3", E4XX_OR_200),
        ("studies?PatientName=" + "*" * 2000, E4XX_OR_200),
        ("studies?PatientName=" + "?*" * 1000 + "x", E4XX_OR_200),
        ("studies?PatientName=" + "A" * 20000, E4XX_OR_200 | {414, 431}),
        (f"studies?StudyInstanceUID={long_uid}", E4XX_OR_200),
        ("studies?StudyInstanceUID=" + ",".join(f"1.2.{i}" for i in range(4000)), E4XX_OR_200 | {414, 431}),
        ("studies?StudyInstanceUID=" + "%5C".join(f"1.2.{i}" for i in range(4000)), E4XX_OR_200 | {414, 431}),
        ("studies?StudyDate=20240101-20230101", E4XX_OR_200), ("studies?StudyDate=-", E4XX_OR_200),
        ("studies?=x", E4XX_OR_200), ("studies?&&&=&=", E4XX_OR_200),
        ("studies?00100010=a&00100010=b", E4XX_OR_200), ("studies?includefield=" + ",".join(["00100010"] * 3000),
                                                         E4XX_OR_200),
        ("studies?0010001=x", {400}), ("studies?FFFFFFFF=x", E4XX_OR_200),
        ("studies?ReferencedStudySequence.ReferencedSOPInstanceUID=1.2", E4XX_OR_200),
        (f"studies/{long_uid}/series", {400}), ("studies/1.2.abc/instances", {400}),
        (f"studies/{study}/series/..%2F..%2Fx/instances", E4XX),
    ]
    for q, expect in qido_bad:
        path = "/dicom-web/" + q
        add(Case(f"qido/{short(q, 70)}", get(path), expect))
    add(Case("qido/accept-unsupported", get("/dicom-web/studies", "Accept: image/png"), {406}))
    add(Case("qido/accept-garbage", get("/dicom-web/studies", 'Accept: ;;;,,,"""'), {200, 400, 406}))

    # --- WADO paths ----------------------------------------------------------------------
    inst = wado_path(study, series, sop)
    wado = [
        ("wado/nonexistent-study", "/dicom-web/studies/1.2.3.4.5.6.7.8.9.999", {404}),
        ("wado/nonexistent-series", f"/dicom-web/studies/{study}/series/1.2.3.999", {404}),
        ("wado/nonexistent-instance", f"/dicom-web/studies/{study}/series/{series}/instances/1.2.3.999", {404}),
        ("wado/instance-in-other-study", f"/dicom-web/studies/1.2.3.999/series/{series}/instances/{sop}", {404}),
        ("wado/raw-dotdot-etc-passwd", "/dicom-web/studies/../../etc/passwd", E4XX),
        ("wado/raw-dotdot-in-series", f"/dicom-web/studies/{study}/series/../../../../etc/passwd", E4XX),
        ("wado/encoded-dotdot-etc-passwd", "/dicom-web/studies/..%2F..%2Fetc%2Fpasswd", E4XX),
        ("wado/encoded-dot-segments", "/dicom-web/studies/%2e%2e/%2e%2e/%2e%2e/etc/passwd", E4XX),
        ("wado/index-sqlite-by-name", f"/dicom-web/studies/{study}/series/..%2F..%2F..%2Findex.sqlite", E4XX),
        ("wado/uid-200-chars", f"/dicom-web/studies/{long_uid}", {400}),
        ("wado/uid-200-chars-instance", f"/dicom-web/studies/{study}/series/{series}/instances/{long_uid}", {400}),
        ("wado/uid-with-letters", "/dicom-web/studies/1.2.abc.3", {400}),
        ("wado/uid-all-letters", "/dicom-web/studies/ABC.DEF", {400}),
        ("wado/uid-empty-component", "/dicom-web/studies/1..2", {400}),
        ("wado/uid-leading-dot", "/dicom-web/studies/.1.2", {400}),
        ("wado/uid-leading-zero", "/dicom-web/studies/1.02.3", {400, 404}),
        ("wado/uid-nul", "/dicom-web/studies/1.2.3%00.4", {400}),
        ("wado/uid-utf8", "/dicom-web/studies/1.2.%E2%98%83", {400}),
        ("wado/uid-percent-garbage", "/dicom-web/studies/1.2.%ZZ", {400}),
        ("wado/metadata-nonexistent", "/dicom-web/studies/1.2.3.999/metadata", {404}),
        ("wado/metadata-bad-uid", "/dicom-web/studies/1.2.abc/series/x/metadata", {400}),
        ("wado/frames-0", f"{inst}/frames/0", {400, 404}),
        ("wado/frames-not-a-number", f"{inst}/frames/abc", {400}),
        ("wado/frames-negative", f"{inst}/frames/-1", {400}),
        ("wado/frames-huge", f"{inst}/frames/99999999999999999999999", {400, 404}),
        ("wado/frames-int64-max", f"{inst}/frames/9223372036854775807", {400, 404}),
        ("wado/frames-beyond-last", f"{inst}/frames/2", {400, 404}),
        ("wado/frames-empty-list", f"{inst}/frames/1,,2", {400, 404}),
        ("wado/frames-10000-list", f"{inst}/frames/" + ",".join(["1"] * 10000), E4XX_OR_200 | {206}),
        ("wado/bulkdata-traversal", f"{inst}/bulkdata/../../../../etc/passwd", E4XX),
        ("wado/bulkdata-encoded-traversal", f"{inst}/bulkdata/..%2F..%2F..%2Fetc%2Fpasswd", E4XX),
        ("wado/bulkdata-garbage-tag", f"{inst}/bulkdata/ZZZZZZZZ", E4XX),
        ("wado/rendered-viewport-huge", f"{inst}/rendered?viewport=100000,100000", {400}),
        ("wado/rendered-viewport-negative", f"{inst}/rendered?viewport=-1,-1", {400}),
        ("wado/rendered-window-garbage", f"{inst}/rendered?window=abc,def", {400}),
        ("wado/rendered-window-nan", f"{inst}/rendered?window=nan,inf", {400, 200}),
        ("wado/rendered-window-huge", f"{inst}/rendered?window=1e308,1e308", {400, 200}),
        ("wado/rendered-window-zero-width", f"{inst}/rendered?window=100,0", {400, 200}),
        ("wado/rendered-quality-0", f"{inst}/rendered?quality=0", {400}),
        ("wado/thumbnail-nonexistent", "/dicom-web/studies/1.2.3.999/thumbnail", {404}),
    ]
    for name, path, expect in wado:
        add(Case(name, get(path), expect))
    add(Case("wado/accept-bogus-transfer-syntax",
             get(inst, 'Accept: multipart/related; type="application/dicom"; transfer-syntax=1.2.3.bogus'), {406}))
    add(Case("wado/accept-garbage", get(inst, 'Accept: ;;;=="'), {200, 400, 406}))
    add(Case("wado/range-garbage", get(inst, "Range: bytes=abc-def"), {200, 206, 400, 416}))
    add(Case("wado/range-past-end", get(inst, "Range: bytes=999999999-"), {200, 416}))
    add(Case("wado/range-int64-overflow", get(inst, "Range: bytes=0-99999999999999999999999"), {200, 206, 400, 416}))
    add(Case("wado/range-many", get(inst, "Range: bytes=" + ",".join(f"{i}-{i}" for i in range(2000))),
             {200, 206, 400, 416}))
    add(Case("wado/delete-nonexistent", lambda: build_request("DELETE", "/dicom-web/studies/1.2.3.999", [], None),
             {404}))
    add(Case("wado/delete-traversal",
             lambda: build_request("DELETE", "/dicom-web/studies/..%2F..%2Fetc%2Fpasswd", [], None), E4XX))

    # --- FHIR ----------------------------------------------------------------------------
    fhir = [
        ("fhir/count-not-a-number", "/fhir/ImagingStudy?_count=abc", {400}),
        ("fhir/count-negative", "/fhir/ImagingStudy?_count=-1", {400}),
        ("fhir/count-int64-max", "/fhir/ImagingStudy?_count=9223372036854775807", E4XX_OR_200),
        ("fhir/offset-int64-max", "/fhir/ImagingStudy?_offset=9223372036854775807&_count=9223372036854775807",
         E4XX_OR_200),
        ("fhir/count-huge", "/fhir/ImagingStudy?_count=99999999999999999999999", E4XX_OR_200),
        ("fhir/started-not-a-date", "/fhir/ImagingStudy?started=notadate", {400}),
        ("fhir/started-huge", "/fhir/ImagingStudy?started=ge99999999999999999999999999", E4XX_OR_200),
        ("fhir/started-bad-prefix", "/fhir/ImagingStudy?started=zz2024", {400}),
        ("fhir/patient-traversal", "/fhir/ImagingStudy?patient=..%2F..%2Fetc%2Fpasswd", E4XX_OR_200),
        ("fhir/identifier-garbage", "/fhir/ImagingStudy?identifier=%ZZ%00|||", E4XX_OR_200),
        ("fhir/unknown-parameter-lenient", "/fhir/ImagingStudy?nosuch=1", E4XX_OR_200),
        ("fhir/read-traversal", "/fhir/ImagingStudy/../../etc/passwd", E4XX),
        ("fhir/read-encoded-traversal", "/fhir/ImagingStudy/..%2F..%2Fetc%2Fpasswd", E4XX),
        ("fhir/read-200-chars", "/fhir/ImagingStudy/" + "a" * 200, {400, 404}),
        ("fhir/read-nonexistent", "/fhir/ImagingStudy/1.2.3.999", {404}),
        ("fhir/unknown-type", "/fhir/NoSuchType", {400, 404}),
    ]
    for name, path, expect in fhir:
        add(Case(name, get(path), expect))
    add(Case("fhir/strict-unknown-parameter", get("/fhir/ImagingStudy?nosuch=1", "Prefer: handling=strict"), {400}))
    fj = "Content-Type: application/fhir+json"
    add(Case("fhir/post-invalid-json", post("/fhir/Observation", b'{"resourceType": "Observation", ', fj), {400}))
    add(Case("fhir/post-not-json", post("/fhir/Observation", b"\xff\xfe\x00garbage", fj), {400, 415}))
    add(Case("fhir/post-json-array", post("/fhir/Observation", b"[1,2,3]", fj), {400, 422}))
    add(Case("fhir/post-wrong-resource", post("/fhir/Observation", b'{"resourceType":"Patient"}', fj), {400, 422}))
    add(Case("fhir/post-2MB", post("/fhir/Observation", b'{"a":"' + b"x" * (2 << 20) + b'"}', fj), {400, 413},
             close_ok=True))
    add(Case("fhir/post-to-imagingstudy", post("/fhir/ImagingStudy", b"{}", fj), {400, 404, 405}))
    add(Case("fhir/put-nonexistent-if-match-garbage",
             lambda: build_request("PUT", "/fhir/Observation/nonexistent", [fj, "If-Match: garbage"], b"{}"),
             {400, 404, 409, 412, 422}))
    # Deep nesting last: a recursive parser may overflow its stack.
    add(Case("fhir/post-nested-arrays-200000", post("/fhir/Observation", b"[" * 200_000 + b"]" * 200_000, fj),
             {400, 413, 422}))
    add(Case("fhir/post-nested-objects-100000",
             post("/fhir/Observation", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, fj), {400, 413, 422}))
    return cases


def run_malformed(known) -> None:
    log("phase 1: malformed input")
    cases = malformed_cases(known)
    outcomes = []

    def report(name, result, counts, details=""):
        outcomes.append((name, result, counts, details))
        log(f"{result} malformed/{name}: {counts} {details}".rstrip())
    for case in cases:
        if not SERVER.alive():
            SERVER.ensure_alive(f"malformed before {case.name}")
        try:
            payload = case.build()
        except Exception as e:   # a script bug: say so, do not blame the server
            report(case.name, "FAIL", "", f"SCRIPT ERROR building the request: {e!r}")
            continue
        r = raw_exchange(payload, half_close_after=case.half_close_after, close_after_send=case.close_after_send,
                         timeout=case.timeout)
        time.sleep(0.05)
        alive = SERVER.alive()
        ok_after, health = healthy() if alive else (False, "")
        status = r["status"]
        if r["head"] or r["body"]:
            LEAKS.scan(f"malformed/{case.name}", bytes(r["head"]).decode("latin-1"), r["body"],
                       r["headers"].get("content-type"))
        sent = f"sent {describe(payload)}"
        if case.note:
            sent += f" ({case.note})"
        got = f"{status} {short(reason_of(r['body']), 110)}" if status else r["outcome"]
        if r["send_error"]:
            got += f" [send: {r['send_error']}]"
        if not alive:
            fate = SERVER.fate()
            report(case.name, "FAIL", f"got {got}", f"SERVER DIED ({fate}); {sent}")
            SERVER.ensure_alive(f"malformed/{case.name}")
            continue
        if not ok_after:
            report(case.name, "FAIL", f"got {got}", f"server not serving afterwards ({health}); {sent}")
            continue
        if case.close_after_send:
            report(case.name, "PASS", "server alive", sent)
            continue
        if status is None:
            closed = r["outcome"] in ("closed without response", "reset without response")
            if closed and case.close_ok:
                report(case.name, "PASS", f"got {got}", "no HTTP answer (acceptable here)")
            else:
                report(case.name, "FAIL", f"got {got}",
                            f"expected {fmt_expect(case.expect)}; {sent}")
            continue
        if status in case.expect:
            report(case.name, "PASS", f"got {status}", short(reason_of(r["body"]), 100))
        else:
            why = "5xx for bad input" if status >= 500 else "unexpected status"
            report(case.name, "FAIL", f"got {got}",
                        f"{why}, expected {fmt_expect(case.expect)}; {sent}")

    # The table: one row per group (answers seen), plus one row per failing case.
    groups: dict = {}
    for item in outcomes:
        groups.setdefault(item[0].split("/")[0], []).append(item)
    for group, items in groups.items():
        fails = [i for i in items if i[1] == "FAIL"]
        seen = collections.Counter(i[2].replace("got ", "") for i in items if i[1] == "PASS")
        RESULTS.add(f"malformed/{group}", "FAIL" if fails else "PASS",
                    f"{len(items) - len(fails)}/{len(items)} as expected",
                    "answers " + ", ".join(f"{k} x{v}" for k, v in sorted(seen.items()))
                    + (f"; failing: {', '.join(i[0] for i in fails)}" if fails else ""), quiet=True)
        for name, result, counts, details in items:
            if result == "FAIL" or VERBOSE:
                RESULTS.add(f"malformed/{name}", result, counts, details, quiet=True)


def describe(payload: bytes) -> str:
    """The bytes of a request, for a report: request line, unusual headers, start of the body."""
    head, sep, body = payload.partition(b"\r\n\r\n")
    if not sep or not re.match(rb"[A-Z]+ \S", head):
        return f"{len(payload)} B {short(payload, 100)}"
    lines = head.split(b"\r\n")
    keep = [lines[0] if len(lines[0]) <= 140 else lines[0][:100] + b"...(%d B)" % len(lines[0])]
    skipped = 0
    for line in lines[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name in (b"host", b"authorization", b"connection"):
            continue
        if len(keep) >= 5:
            skipped += 1
            continue
        keep.append(line if len(line) <= 120 else line[:80] + b"...(%d B)" % len(line))
    text = " | ".join(short(l, 200) for l in keep) + (f" | +{skipped} more headers" if skipped else "")
    text += f" | body {len(body)} B"
    if body:
        text += f" {short(body, 60)}"
    return text


def fmt_expect(expect) -> str:
    if expect == E4XX:
        return "4xx"
    if expect == E4XX_OR_200:
        return "4xx or 200"
    extra = sorted(set(expect) - E4XX)
    if E4XX <= set(expect):
        return "4xx or " + "/".join(map(str, extra))
    return "/".join(map(str, sorted(expect)))


# ---------------------------------------------------------------------------------------------
# Normal client used while the server is being held busy

class NormalClient(threading.Thread):
    """A request every `interval` seconds on a new connection; records status and latency."""

    def __init__(self, interval: float, stop: threading.Event, urls):
        super().__init__(daemon=True)
        self.interval = interval
        self.stop_event = stop
        self.urls = urls          # () -> list of (label, path)
        self.samples: list[tuple[float, str, object, float]] = []   # (t, label, status|error, latency)

    def run(self):
        i = 0
        t0 = time.monotonic()
        while not self.stop_event.is_set():
            urls = self.urls()
            label, path = urls[i % len(urls)]
            i += 1
            start = time.monotonic()
            try:
                accept = "application/dicom; transfer-syntax=*" if "/instances/" in path else "application/dicom+json"
                r = requests.get(SERVER.origin + path, headers={**auth_headers(), "Connection": "close",
                                                                "Accept": accept}, timeout=10)
                LEAKS.scan_response(f"normal client {label}", r)
                result = r.status_code
            except requests.RequestException as e:
                result = type(e).__name__
            self.samples.append((start - t0, label, result, time.monotonic() - start))
            self.stop_event.wait(max(0.0, self.interval - (time.monotonic() - start)))

    def summary(self) -> tuple[bool, str, str]:
        n = len(self.samples)
        ok = [s for s in self.samples if s[2] == 200]
        bad = [s for s in self.samples if s[2] != 200]
        lat = sorted(s[3] * 1000 for s in ok)
        if lat:
            p50 = statistics.median(lat)
            p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))]
            lat_text = f"latency p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {lat[-1]:.0f} ms"
        else:
            lat_text = "no successful request"
        details = lat_text
        if bad:
            c = collections.Counter(str(s[2]) for s in bad)
            details += "; failures: " + ", ".join(f"{k} x{v}" for k, v in c.items())
            details += f" (first at t={bad[0][0]:.1f}s {bad[0][1]})"
        return n > 0 and not bad, f"{len(ok)}/{n} ok", details


# ---------------------------------------------------------------------------------------------
# Phase 2 and 3: slow and idle connections

class HeldConnection:
    def __init__(self, kind: str, sock: socket.socket, trickle: bytes):
        self.kind = kind
        self.sock = sock
        self.trickle = trickle   # bytes sent one by one per tick
        self.pos = 0
        self.sent = 0
        self.closed_at: float | None = None
        self.how = ""
        self.buf = bytearray()

    def check_closed(self, t: float) -> bool:
        """Reads whatever the server sent; True once the server has closed (or answered)."""
        if self.closed_at is not None:
            return True
        while True:
            try:
                chunk = self.sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return False
            except (ConnectionResetError, OSError) as e:
                self._close(t, f"reset ({type(e).__name__})")
                return True
            if not chunk:
                parsed = parse_response(bytes(self.buf), True)
                self._close(t, f"answered {parsed['status']}, closed" if parsed and parsed.get("status") else "closed (FIN)")
                return True
            self.buf += chunk
            parsed = parse_response(bytes(self.buf), False)
            if parsed and parsed.get("status"):
                self._close(t, f"answered {parsed['status']}")
                return True

    def send_one(self, t: float) -> None:
        if self.closed_at is not None or not self.trickle:
            return
        byte = self.trickle[self.pos % len(self.trickle): self.pos % len(self.trickle) + 1]
        try:
            self.sock.send(byte, socket.MSG_DONTWAIT)
            self.pos += 1
            self.sent += 1
        except BlockingIOError:
            pass
        except (BrokenPipeError, ConnectionResetError, OSError) as e:
            self._close(t, f"send failed ({type(e).__name__})")

    def _close(self, t: float, how: str) -> None:
        # The socket itself is closed by release(), after it left any selector.
        self.closed_at = t
        self.how = how

    def release(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def open_conn(initial: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", SERVER.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if initial:
        s.sendall(initial)
    s.setblocking(False)   # check_closed / send_one must never wait
    return s


def close_summary(conns: list[HeldConnection], window: float) -> tuple[int, str]:
    closed = [c for c in conns if c.closed_at is not None]
    if not closed:
        return 0, f"none closed within {window:.0f}s"
    times = sorted(c.closed_at for c in closed)
    hows = collections.Counter(c.how for c in closed)
    return len(closed), (f"closed after {times[0]:.1f}-{times[-1]:.1f}s (median {statistics.median(times):.1f}s): "
                         + ", ".join(f"{k} x{v}" for k, v in hows.items()))


def normal_urls(known):
    study, series, sop = known[0]
    return lambda: [("QIDO studies", "/dicom-web/studies?limit=5"),
                    ("WADO instance", wado_path(study, series, sop))]


def run_slowloris(window: float, known) -> None:
    log(f"phase 2: slowloris, {window:.0f}s (8 trickled headers, 4 trickled STOW bodies)")
    if not SERVER.alive():
        SERVER.ensure_alive("before slowloris")
    ct = (FIXTURES / "ct" / "ct_0002.dcm").read_bytes()
    conns: list[HeldConnection] = []
    auth = f"Authorization: Bearer {TOKEN}\r\n".encode() if TOKEN else b""
    try:
        for i in range(8):
            head = (f"GET /dicom-web/studies?limit=1 HTTP/1.1\r\nHost: 127.0.0.1:{SERVER.port}\r\n".encode()
                    + auth + b"X-Slow-Loris: ")
            conns.append(HeldConnection("header", open_conn(head), b"abcdefghijklmnopqrstuvwxyz"))
        for i in range(4):
            boundary = f"slowupload{i}"
            body = multipart([ct], boundary)
            head = (f"POST /dicom-web/studies HTTP/1.1\r\nHost: 127.0.0.1:{SERVER.port}\r\n".encode() + auth
                    + f"Content-Type: {stow_ctype(boundary)}\r\nContent-Length: {len(body)}\r\n"
                      f"Accept: application/dicom+json\r\n\r\n".encode())
            conns.append(HeldConnection("upload", open_conn(head + body[:1]), body[1:]))
    except OSError as e:
        RESULTS.add("slowloris/setup", "FAIL", "", f"could not open the slow connections: {e!r}")
        for c in conns:
            c.release()
        return
    stop = threading.Event()
    client = NormalClient(1.0, stop, lambda: [("QIDO studies", "/dicom-web/studies?limit=5")])
    client.start()
    t0 = time.monotonic()
    try:
        while True:
            t = time.monotonic() - t0
            if t >= window:
                break
            for c in conns:
                if not c.check_closed(t):
                    c.send_one(t)
            if not SERVER.alive():
                break
            time.sleep(max(0.0, 1.0 - ((time.monotonic() - t0) - t)))
        t = time.monotonic() - t0
        for c in conns:
            c.check_closed(t)
    finally:
        stop.set()
        client.join(timeout=15)
        for c in conns:
            c.release()
    died = not SERVER.alive()
    headers = [c for c in conns if c.kind == "header"]
    uploads = [c for c in conns if c.kind == "upload"]
    n, text = close_summary(headers, window)
    RESULTS.check("slowloris/trickled-headers-closed", n == len(headers), f"{n}/{len(headers)} closed",
                  f"{text}; {headers[0].sent} header bytes sent per connection at 1 B/s")
    n, text = close_summary(uploads, window)
    bad_status = [c.how for c in uploads if re.search(r"answered 5\d\d", c.how)]
    RESULTS.check("slowloris/trickled-uploads-closed", n == len(uploads) and not bad_status,
                  f"{n}/{len(uploads)} closed",
                  f"{text}; {uploads[0].sent} body bytes trickled of {len(uploads[0].trickle) + 1}"
                  + (f"; 5xx answers: {bad_status}" if bad_status else ""))
    ok, counts, details = client.summary()
    RESULTS.check("slowloris/normal-client-qido", ok and not died, counts, details)
    if died:
        SERVER.ensure_alive("slowloris")


def run_half_open(window: float, known) -> None:
    log(f"phase 3: 128 half-open connections for {window:.0f}s")
    if not SERVER.alive():
        SERVER.ensure_alive("before half-open")
    conns: list[HeldConnection] = []
    try:
        for i in range(128):
            if i % 2 == 0:
                conns.append(HeldConnection("silent", open_conn(b""), b""))
            else:
                half = f"GET /dicom-web/studies?limit=1 HTTP/1.1\r\nHost: 127.0.0.1:{SERVER.port}\r\nAccept: appl".encode()
                conns.append(HeldConnection("half-request", open_conn(half), b""))
    except OSError as e:
        RESULTS.add("half-open/setup", "FAIL", f"{len(conns)} opened", f"connect failed: {e!r}")
    stop = threading.Event()
    client = NormalClient(0.5, stop, normal_urls(known))
    client.start()
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()
    for c in conns:
        sel.register(c.sock, selectors.EVENT_READ, c)
    try:
        while True:
            t = time.monotonic() - t0
            if t >= window or not SERVER.alive():
                break
            for key, _ in sel.select(timeout=min(0.5, max(0.01, window - t))):
                c = key.data
                if c.check_closed(time.monotonic() - t0):
                    try:
                        sel.unregister(key.fileobj)
                    except (KeyError, ValueError):
                        pass
    finally:
        stop.set()
        client.join(timeout=15)
        sel.close()
        for c in conns:
            c.release()
    died = not SERVER.alive()
    n, text = close_summary(conns, window)
    by_kind = collections.Counter(c.kind for c in conns if c.closed_at is not None)
    RESULTS.check("half-open/idle-connections-closed", len(conns) == 128 and n == len(conns),
                  f"{n}/{len(conns)} closed",
                  f"{text}; silent {by_kind.get('silent', 0)}/64, half-request {by_kind.get('half-request', 0)}/64")
    ok, counts, details = client.summary()
    RESULTS.check("half-open/normal-requests", ok and not died, counts, details)
    if died:
        SERVER.ensure_alive("half-open")


# ---------------------------------------------------------------------------------------------
# Phase 4: read-only data volume

def chattr(flag: str, path: str) -> subprocess.CompletedProcess:
    return subprocess.run(["chattr", "-R", flag, path], capture_output=True, text=True, timeout=60)


def chattr_supported(probe_dir: str) -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "not running as root"
    if not shutil.which("chattr"):
        return False, "chattr not installed"
    probe = os.path.join(probe_dir, ".robust-chattr-probe")
    try:
        Path(probe).write_text("probe")
        r = subprocess.run(["chattr", "+i", probe], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return False, f"chattr +i unsupported here: {r.stderr.strip()}"
        try:
            with open(probe, "a") as f:
                f.write("x")
            immutable = False
        except OSError:
            immutable = True
        subprocess.run(["chattr", "-i", probe], capture_output=True, timeout=10)
        return (immutable, "" if immutable else "the immutable flag does not stop writes here")
    except OSError as e:
        return False, f"probe failed: {e}"
    finally:
        subprocess.run(["chattr", "-i", probe], capture_output=True, timeout=10)
        try:
            os.unlink(probe)
        except OSError:
            pass


IMMUTABLE = {"path": None}   # set while the data folder carries +i, for cleanup


def run_readonly(root: str, factory: InstanceFactory, known) -> None:
    log("phase 4: read-only data volume (chattr -R +i)")
    supported, why = chattr_supported(root)
    if not supported:
        RESULTS.add("readonly/volume", "SKIP", "", why)
        return
    if not SERVER.alive():
        SERVER.ensure_alive("before readonly")
    study, series, sop = known[0]
    session = requests.Session()
    outcome = {}

    def attempt(label, fn):
        try:
            r = fn()
            LEAKS.scan_response(f"readonly/{label}", r)
            return r.status_code, reason_of(r.content), r
        except requests.RequestException as e:
            return None, type(e).__name__, None

    def stow_new(label):
        s, body = factory.make(new_uid(), new_uid(), 1)
        status, reason, r = attempt(label, lambda: stow_request(session, [body], timeout=30))
        warning = r.headers.get("Warning", "") if r is not None else ""
        return status, reason, warning, s

    rounds = 3
    reads = {"qido": [], "wado": [], "fhir": []}
    stows = []
    t_immutable = None
    try:
        IMMUTABLE["path"] = SERVER.data_dir
        r = chattr("+i", SERVER.data_dir)
        if r.returncode != 0:
            log(f"chattr -R +i reported: {r.stderr.strip()[:300]}")
        t_immutable = time.monotonic()
        time.sleep(0.5)
        # A few rounds of writes and reads while immutable, then a pause: a crash that follows
        # the failed write by a moment is seen here, not blamed on a later phase.
        for i in range(rounds):
            if not SERVER.alive():
                break
            stows.append(stow_new(f"stow-immutable-{i + 1}"))
            time.sleep(0.3)
            if not SERVER.alive():
                break
            reads["qido"].append(attempt("qido-immutable", lambda: session.get(
                f"{SERVER.base}/studies", params={"limit": "5"}, headers=auth_headers(), timeout=15))[:2])
            reads["wado"].append(attempt("wado-immutable", lambda: session.get(
                SERVER.origin + wado_path(study, series, sop),
                headers={**auth_headers(), "Accept": "application/dicom; transfer-syntax=*"}, timeout=15))[:2])
            reads["fhir"].append(attempt("fhir-immutable", lambda: session.get(
                f"{SERVER.origin}/fhir/ImagingStudy", params={"_count": "5"}, headers=auth_headers(), timeout=15))[:2])
            time.sleep(0.5)
        deadline = time.monotonic() + 3
        while SERVER.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        outcome["alive_during"] = SERVER.alive()
        outcome["fate_during"] = SERVER.fate()
        outcome["died_after"] = None if outcome["alive_during"] else time.monotonic() - t_immutable
    finally:
        r = chattr("-i", SERVER.data_dir)
        if r.returncode == 0:
            IMMUTABLE["path"] = None
        else:
            log(f"chattr -R -i FAILED: {r.stderr.strip()[:300]}")
    # After the flag is gone: STOW again without a restart.
    after = None
    tries = 0
    if SERVER.alive():
        for tries in range(1, 6):
            after = stow_new(f"stow-after-{tries}")
            if after[0] == 200:
                break
            time.sleep(1.5)
    alive_end = SERVER.alive()
    fate = outcome["fate_during"] if not outcome["alive_during"] else ("alive" if alive_end else SERVER.fate())
    crash = "" if outcome["alive_during"] else SERVER.crash_summary()

    died = not outcome["alive_during"]
    died_text = f"; the process died ({outcome['fate_during']}) after {len(stows)} STOW(s)" if died else ""
    statuses = [st[0] for st in stows]
    good = [st for st in stows if st[0] in (503, 507) and st[1].strip()]
    detail = "expected 503/507 with a reason"
    if stows:
        first = stows[0]
        detail += f"; first answer: {first[0]} {short(first[1], 140)}" if first[0] else f"; no answer ({first[1]})"
        if first[2]:
            detail += f"; Warning: {short(first[2], 120)}"
    RESULTS.check("readonly/stow-while-immutable", bool(stows) and len(good) == len(stows) and not died,
                  f"statuses {statuses}", detail + died_text)
    for key in ("qido", "wado", "fhir"):
        res = reads[key]
        sts = [x[0] for x in res]
        if not res:
            RESULTS.add(f"readonly/{key}-while-immutable", "FAIL", "not run", f"the server was dead ({fate})")
            continue
        bad = [x for x in res if x[0] != 200]
        RESULTS.check(f"readonly/{key}-while-immutable", not bad and len(res) == rounds and not died,
                      f"statuses {sts}" + (f" of {rounds}" if len(res) < rounds else ""),
                      (f"first failure: {bad[0][0]} {short(bad[0][1], 120)}" if bad else "")
                      + (f"; the process died after {len(res)} round(s)" if died else ""))
    if after is None:
        RESULTS.add("readonly/stow-after-chattr-minus-i", "FAIL", "not run", f"the server was dead ({fate})")
    else:
        RESULTS.check("readonly/stow-after-chattr-minus-i", after[0] == 200, f"got {after[0]} after {tries} tries",
                      "" if after[0] == 200 else short(after[1], 160))
    RESULTS.check("readonly/process-fate", outcome["alive_during"] and alive_end, fate,
                  f"log: {crash}" if crash else "")
    if not SERVER.alive():
        SERVER.ensure_alive("readonly")


# ---------------------------------------------------------------------------------------------
# Phase 5: mixed load

class OpStats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = collections.Counter()
        self.fail = collections.Counter()
        self.statuses: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.examples: dict[str, list] = collections.defaultdict(list)
        self.latency: dict[str, list] = collections.defaultdict(list)

    def record(self, op: str, status, ok: bool, latency: float, example: str = ""):
        with self.lock:
            (self.ok if ok else self.fail)[op] += 1
            self.statuses[op][str(status)] += 1
            self.latency[op].append(latency)
            if not ok and len(self.examples[op]) < 3:
                self.examples[op].append(example)


class RSSSampler(threading.Thread):
    def __init__(self, stop: threading.Event):
        super().__init__(daemon=True)
        self.stop_event = stop
        self.samples: list[tuple[float, int, int]] = []   # (t, pid, kB)
        self.hwm = 0

    @staticmethod
    def read(pid, field="VmRSS") -> int | None:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except (OSError, ValueError):
            return None
        return None

    def run(self):
        t0 = time.monotonic()
        while not self.stop_event.is_set():
            pid = SERVER.pid
            kb = self.read(pid)
            if kb is not None:
                self.samples.append((time.monotonic() - t0, pid, kb))
                self.hwm = max(self.hwm, self.read(pid, "VmHWM") or 0)
            self.stop_event.wait(1.0)


def run_mixed(duration: float, factory: InstanceFactory, known) -> dict:
    log(f"phase 5: mixed load for {duration:.0f}s")
    if not SERVER.alive():
        SERVER.ensure_alive("before mixed load")
    stats = OpStats()
    acked: dict[str, tuple[str, str]] = {}
    acked_lock = threading.Lock()
    pool = list(known)             # (study, series, sop) that WADO may fetch
    studies = [k[0] for k in known]
    stop = threading.Event()
    deaths_before = len(SERVER.deaths)

    def timed(op, fn, ok_statuses, where):
        start = time.monotonic()
        try:
            r = fn()
            LEAKS.scan_response(f"mixed/{op} {where}", r)
            ok = r.status_code in ok_statuses
            stats.record(op, r.status_code, ok, time.monotonic() - start,
                         f"{r.status_code} {where}: {short(reason_of(r.content), 120)}")
            return r
        except requests.RequestException as e:
            stats.record(op, type(e).__name__, False, time.monotonic() - start, f"{type(e).__name__} {where}: {e}")
            return None

    def stow_worker(wid):
        s = requests.Session()
        n = 0
        study = series = None
        while not stop.is_set():
            if n % 6 == 0:
                study, series = new_uid(), new_uid()
            n += 1
            parts, sent = [], {}
            for _ in range(random.choice((1, 1, 2, 3))):
                sop, data = factory.make(study, series, len(sent) + n * 4)
                parts.append(data)
                sent[sop] = (study, series)
            r = timed("stow", lambda: stow_request(s, parts, timeout=60), {200}, f"{len(parts)} instances")
            if r is not None and r.status_code in (200, 202):
                try:
                    refs = referenced_sops(r.json())
                except ValueError:
                    refs = []
                with acked_lock:
                    for sop in refs:
                        if sop in sent:
                            acked[sop] = sent[sop]
                            pool.append((sent[sop][0], sent[sop][1], sop))
                    if study not in studies:
                        studies.append(study)

    def qido_worker(wid):
        s = requests.Session()
        while not stop.is_set():
            with acked_lock:
                st = random.choice(studies)
            path, params = random.choice([
                ("studies", {"limit": "20"}),
                ("studies", {"PatientName": "Robust*", "limit": "10"}),
                ("studies", {"ModalitiesInStudy": "CT", "limit": "25", "includefield": "all"}),
                ("series", {"Modality": "CT", "limit": "20"}),
                ("instances", {"limit": "50", "offset": str(random.randint(0, 50))}),
                (f"studies/{st}/series", {}),
                (f"studies/{st}/instances", {}),
            ])
            timed("qido", lambda: s.get(f"{SERVER.base}/{path}", params=params,
                                        headers={**auth_headers(), "Accept": "application/dicom+json"}, timeout=30),
                  {200, 204}, path.split("/")[0] if "/" not in path else path.rsplit("/", 1)[-1])

    def wado_worker(wid):
        s = requests.Session()
        while not stop.is_set():
            with acked_lock:
                st, se, sop = random.choice(pool)
            if random.random() < 0.75:
                timed("wado", lambda: s.get(SERVER.origin + wado_path(st, se, sop),
                                            headers={**auth_headers(), "Accept": "application/dicom; transfer-syntax=*"},
                                            timeout=30), {200}, "instance")
            else:
                timed("wado", lambda: s.get(SERVER.origin + wado_path(st, se, sop) + "/metadata",
                                            headers={**auth_headers(), "Accept": "application/dicom+json"},
                                            timeout=30), {200}, "metadata")

    def fhir_worker(wid):
        s = requests.Session()
        while not stop.is_set():
            params = random.choice([{"_count": "10"}, {"modality": "CT", "_count": "5"},
                                    {"_count": "20", "_offset": str(random.randint(0, 20))},
                                    {"started": "ge1990-01-01", "_count": "5"}])
            timed("fhir", lambda: s.get(f"{SERVER.origin}/fhir/ImagingStudy", params=params,
                                        headers={**auth_headers(), "Accept": "application/fhir+json"}, timeout=30),
                  {200}, "ImagingStudy search")

    rss_stop = threading.Event()
    rss = RSSSampler(rss_stop)
    rss.start()
    time.sleep(1.1)
    workers = ([threading.Thread(target=stow_worker, args=(i,), daemon=True) for i in range(2)]
               + [threading.Thread(target=qido_worker, args=(i,), daemon=True) for i in range(2)]
               + [threading.Thread(target=wado_worker, args=(i,), daemon=True) for i in range(2)]
               + [threading.Thread(target=fhir_worker, args=(0,), daemon=True)])
    for w in workers:
        w.start()
    t0 = time.monotonic()
    while time.monotonic() - t0 < duration:
        time.sleep(0.5)
        if not SERVER.alive():
            log(f"server died under load: {SERVER.fate()}")
            SERVER.ensure_alive("mixed load")
    stop.set()
    for w in workers:
        w.join(timeout=70)
    rss_stop.set()
    rss.join(timeout=5)
    elapsed = time.monotonic() - t0

    for op in ("stow", "qido", "wado", "fhir"):
        ok, fail = stats.ok[op], stats.fail[op]
        lat = sorted(stats.latency[op])
        lat_text = (f"p50 {statistics.median(lat) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms, "
                    f"{(ok + fail) / elapsed:.1f}/s") if lat else "no requests"
        sts = ", ".join(f"{k}:{v}" for k, v in sorted(stats.statuses[op].items()))
        ex = ("; e.g. " + " | ".join(stats.examples[op])) if stats.examples[op] else ""
        RESULTS.check(f"mixed/{op}", ok > 0 and fail == 0, f"{ok} ok, {fail} failed",
                      f"statuses {sts}; {lat_text}{ex}")
    if rss.samples:
        kbs = [s[2] for s in rss.samples]
        restarts = len({s[1] for s in rss.samples}) > 1
        RESULTS.check("mixed/server-rss", not restarts and len(SERVER.deaths) == deaths_before,
                      f"start {kbs[0] / 1024:.0f} MiB, peak {max(kbs) / 1024:.0f} MiB, end {kbs[-1] / 1024:.0f} MiB",
                      f"{len(kbs)} samples, VmHWM {rss.hwm / 1024:.0f} MiB" + ("; the PID changed (restart)" if restarts else ""))
    else:
        RESULTS.add("mixed/server-rss", "FAIL", "no samples", "could not read /proc/PID/status")
    RESULTS.check("mixed/server-survived", len(SERVER.deaths) == deaths_before, SERVER.fate(),
                  "; ".join(f"{d[0]}: {d[1]}" for d in SERVER.deaths[deaths_before:]))
    return acked


def check_acked(acked: dict) -> None:
    log(f"checking that the {len(acked)} acknowledged instances are retrievable")
    if not SERVER.alive():
        SERVER.ensure_alive("before acknowledged-instances check")
    items = list(acked.items())
    missing, errors = [], collections.Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + 90
    idx = [0]

    def worker():
        s = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                if idx[0] >= len(items):
                    return
                sop, (st, se) = items[idx[0]]
                idx[0] += 1
            try:
                r = s.get(SERVER.origin + wado_path(st, se, sop),
                          headers={**auth_headers(), "Accept": "application/dicom; transfer-syntax=*"}, timeout=30)
                good = r.status_code == 200 and sop.encode() in r.content
                if not good:
                    with lock:
                        missing.append(f"{sop} ({r.status_code})")
                        errors[str(r.status_code)] += 1
            except requests.RequestException as e:
                with lock:
                    missing.append(f"{sop} ({type(e).__name__})")
                    errors[type(e).__name__] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=100)
    unchecked = len(items) - idx[0]
    RESULTS.check("mixed/acknowledged-retrievable", bool(items) and not missing and unchecked == 0,
                  f"{idx[0] - len(missing)}/{len(items)} retrieved",
                  (f"missing: {', '.join(missing[:5])}; " if missing else "")
                  + (f"statuses {dict(errors)}; " if errors else "")
                  + (f"{unchecked} not checked in time" if unchecked else ""))


def run_verify(binary: str, data_dir: str) -> None:
    try:
        r = subprocess.run([binary, "verify", "--data", data_dir], capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        RESULTS.add("verify", "FAIL", "timeout", "minivna verify ran longer than 180 s")
        return
    lines = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    last = lines[-1] if lines else "(no output)"
    problems = [l for l in r.stdout.splitlines() if not l.startswith("checked ")]
    RESULTS.check("verify", r.returncode == 0 and r.stdout.strip().endswith("clean"),
                  f"exit {r.returncode}", last + (f"; {len(problems)} problems, e.g. {problems[:3]}" if problems else ""))


def run_auth_checks(known) -> None:
    log("auth: requests without / with a wrong token")
    study, series, sop = known[0]
    cases = [
        ("auth/qido-without-token", lambda: requests.get(f"{SERVER.base}/studies", timeout=10), {401}),
        ("auth/qido-wrong-token", lambda: requests.get(f"{SERVER.base}/studies", timeout=10,
                                                       headers={"Authorization": "Bearer wrong-" + TOKEN}), {401, 403}),
        ("auth/qido-malformed-authorization", lambda: requests.get(f"{SERVER.base}/studies", timeout=10,
                                                                   headers={"Authorization": "Bearer"}), {400, 401}),
        ("auth/wado-without-token", lambda: requests.get(SERVER.origin + wado_path(study, series, sop), timeout=10),
         {401}),
        ("auth/stow-without-token", lambda: requests.post(
            f"{SERVER.base}/studies", data=multipart([b"x"], "authb"), timeout=10,
            headers={"Content-Type": stow_ctype("authb")}), {401}),
        ("auth/fhir-without-token", lambda: requests.get(f"{SERVER.origin}/fhir/ImagingStudy", timeout=10), {401}),
    ]
    for name, fn, expect in cases:
        try:
            r = fn()
            LEAKS.scan_response(name, r)
            RESULTS.check(name, r.status_code in expect, f"got {r.status_code}",
                          "" if r.status_code in expect else f"expected {fmt_expect(expect)}; {short(reason_of(r.content), 120)}")
        except requests.RequestException as e:
            RESULTS.add(name, "FAIL", type(e).__name__, str(e)[:160])


# ---------------------------------------------------------------------------------------------

PHASES = ("malformed", "slowloris", "half-open", "readonly", "mixed")
CLEANED = threading.Event()


def cleanup(root: str | None, keep: bool) -> None:
    if CLEANED.is_set():
        return
    CLEANED.set()
    if IMMUTABLE["path"]:
        chattr("-i", IMMUTABLE["path"])
        IMMUTABLE["path"] = None
    if SERVER is not None:
        SERVER.kill()
    if root:
        if keep:
            log(f"kept {root} (data folder {root}/data, server log {root}/server.log)")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    global TOKEN, SERVER, VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=os.environ.get("MINIVNA_BIN", str(REPO / ".build" / "debug" / "minivna")))
    ap.add_argument("--duration-seconds", type=float, default=60.0,
                    help="length of the slowloris, half-open and mixed-load phases (default 60)")
    ap.add_argument("--token", help="API key: sent as Authorization: Bearer TOKEN; the server gets "
                                    "MINIVNA_API_KEYS=robust:admin:TOKEN")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data folder and server log")
    ap.add_argument("--phases", default=",".join(PHASES),
                    help=f"comma-separated subset of {','.join(PHASES)} (default: all)")
    ap.add_argument("--verbose", action="store_true", help="one table row per malformed-input case, not per group")
    args = ap.parse_args()
    VERBOSE = args.verbose
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    unknown = phases - set(PHASES)
    if unknown:
        ap.error(f"unknown phases {sorted(unknown)}; choose from {','.join(PHASES)}")
    TOKEN = args.token
    duration = max(5.0, args.duration_seconds)

    if pydicom is None:
        print("pydicom is not installed (python3 -m pip install pydicom)", file=sys.stderr)
        return 2
    binary = str(Path(args.binary).expanduser().resolve())
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print(f"minivna binary not found or not executable: {binary}", file=sys.stderr)
        return 2

    root = tempfile.mkdtemp(prefix="minivna-robust-")
    data_dir = os.path.join(root, "data")
    LEAKS.configure(data_dir, root)
    budget = 4 * duration + 300

    def watchdog():
        print(f"\nWATCHDOG: the run exceeded {budget:.0f}s; stopping.", flush=True)
        RESULTS.add("watchdog", "FAIL", f"> {budget:.0f}s", "the run did not finish in time (a phase hung)")
        cleanup(root, args.keep)
        print("\n" + RESULTS.table(), flush=True)
        os._exit(1)

    timer = threading.Timer(budget, watchdog)
    timer.daemon = True
    timer.start()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        log(f"binary {binary}; data {data_dir}; duration {duration:.0f}s; token {'yes' if TOKEN else 'no'}")
        imp = subprocess.run([binary, "import", "--data", data_dir, str(FIXTURES / "ct")],
                             capture_output=True, text=True, timeout=120)
        log(f"import: exit {imp.returncode}: {(imp.stdout + imp.stderr).strip()[-300:]}")
        if imp.returncode != 0:
            print("minivna import failed", file=sys.stderr)
            return 2
        SERVER = Server(binary, data_dir, os.path.join(root, "server.log"))
        try:
            SERVER.start()
        except RuntimeError as e:
            print(str(e), file=sys.stderr)
            return 2
        known = known_instances()
        if not known:
            print("no instance found after import", file=sys.stderr)
            return 2
        factory = InstanceFactory()

        if TOKEN:
            run_auth_checks(known)
        if "malformed" in phases:
            run_malformed(known)
        if "slowloris" in phases:
            run_slowloris(duration, known)
        if "half-open" in phases:
            run_half_open(duration, known)
        if "readonly" in phases:
            run_readonly(root, factory, known)
        if "mixed" in phases:
            acked = run_mixed(duration, factory, known)
            check_acked(acked)

        log("stopping the server (SIGTERM)")
        died_before = SERVER.fate() if not SERVER.alive() else None
        t = time.monotonic()
        rc = SERVER.stop(timeout=40)
        RESULTS.check("shutdown/sigterm", died_before is None and rc == 0,
                      f"exit {rc}" if rc is not None else "killed after 40 s",
                      died_before or f"stopped in {time.monotonic() - t:.1f}s")
        run_verify(binary, data_dir)

        deaths = SERVER.deaths
        RESULTS.check("server/never-died", not deaths, f"{len(deaths)} deaths, {SERVER.starts} starts",
                      "; ".join(f"{d[0]}: {d[1]}" for d in deaths))
        first_of: dict = {}
        for where, label, excerpt in LEAKS.found:
            first_of.setdefault((where, label), excerpt)
        RESULTS.check("responses/no-stack-trace-or-data-path", not first_of,
                      f"{LEAKS.scanned} responses scanned, {len(first_of)} leaks",
                      "; ".join(f"{w}: {l} [{short(e, 160)}]" for (w, l), e in list(first_of.items())[:8]))
    except KeyboardInterrupt:
        RESULTS.add("run", "FAIL", "interrupted", "")
    finally:
        timer.cancel()
        cleanup(root, args.keep)

    print("\n" + RESULTS.table(), flush=True)
    if SERVER is not None and SERVER.deaths:
        print("\nserver deaths:")
        for phase, fate, tail in SERVER.deaths:
            print(f"  {phase}: {fate}: {tail}")
    return 1 if RESULTS.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
