"""Uploads with the real curl client: bodies over 1 MB make curl send `Expect: 100-continue`.

If the server did not answer `100 Continue` (or a final status) at once, curl would wait its
1 s expect timeout before sending the body, so a total time under 0.9 s proves it is answered.
"""
import json
import socket
import subprocess
import time

import pytest

from bbhelpers import (FIXTURES, SOP_UID, failure_reasons, make_dataset, multipart, qido_json,
                       referenced_uids, stow_content_type, to_bytes, uids)

MAX_SECONDS = 0.9


def curl(curl_bin, url, *args, body_file=None, timeout=60):
    cmd = [curl_bin, "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", *args]
    if body_file is not None:
        cmd += ["--data-binary", f"@{body_file}"]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    code, seconds = out.stdout.split()
    return int(code), float(seconds)


def curl_body(curl_bin, url, *args, body_file, timeout=60):
    cmd = [curl_bin, "-s", "-S", "--data-binary", f"@{body_file}", *args, url]
    out = subprocess.run(cmd, capture_output=True, timeout=timeout, check=True)
    return out.stdout


CURL_EXPECT_THRESHOLD = 1024 * 1024  # curl adds Expect: 100-continue above this


@pytest.fixture(scope="module")
def big_body(tmp_path_factory):
    """A ~1.3 MB multipart body: a 1.2 MB synthetic instance plus the five CT slices."""
    big = make_dataset(patient_name="Big^Upload", extra_bytes=1200 * 1024)
    cts = [p.read_bytes() for p in sorted((FIXTURES / "ct").glob("*.dcm"))]
    body, bnd = multipart([to_bytes(big)] + cts)
    assert len(body) > CURL_EXPECT_THRESHOLD
    path = tmp_path_factory.mktemp("curl") / "body.bin"
    path.write_bytes(body)
    return path, bnd, big


def test_curl_large_upload_gets_100_continue(module_server, curl_bin, big_body):
    """curl sends Expect: 100-continue for the >1 MB body and the server answers it.

    --expect100-timeout 30 makes an unanswered Expect cost 30 s (instead of curl's 1 s), so
    the time bound below separates "answered" from "not answered" whatever the build speed.
    """
    path, bnd, big = big_body
    cmd = [curl_bin, "-v", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
           "--expect100-timeout", "30", "--max-time", "25",
           "-H", f"Content-Type: {stow_content_type(bnd)}", "--data-binary", f"@{path}",
           f"{module_server.base}/studies"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    code, seconds = out.stdout.split()
    assert int(code) == 200
    assert "> Expect: 100-continue" in out.stderr, "curl did not send Expect"
    assert "< HTTP/1.1 100 Continue" in out.stderr, out.stderr[-2000:]
    assert float(seconds) < 20
    found = qido_json(module_server.base, "instances", {"SOPInstanceUID": big.SOPInstanceUID})
    assert uids(found, SOP_UID) == [big.SOPInstanceUID]


def test_100_continue_answered_within_deadline(module_server):
    """Raw HTTP: headers with Expect: 100-continue get `100 Continue` at once, body follows."""
    ds = make_dataset(patient_name="Raw^Expect", extra_bytes=300 * 1024)
    body, bnd = multipart([to_bytes(ds)])
    head = (f"POST /dicom-web/studies HTTP/1.1\r\nHost: 127.0.0.1:{module_server.port}\r\n"
            f"Content-Type: {stow_content_type(bnd)}\r\nContent-Length: {len(body)}\r\n"
            f"Expect: 100-continue\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", module_server.port), timeout=10) as sock:
        t0 = time.monotonic()
        sock.sendall(head)
        sock.settimeout(MAX_SECONDS)
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = sock.recv(4096)
            assert chunk, "connection closed before 100 Continue"
            interim += chunk
        elapsed = time.monotonic() - t0
        assert interim.startswith(b"HTTP/1.1 100"), interim[:200]
        assert elapsed < MAX_SECONDS, elapsed
        sock.settimeout(60)
        sock.sendall(body)
        rest = interim[interim.index(b"\r\n\r\n") + 4:]
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    assert rest.startswith(b"HTTP/1.1 200"), rest[:300]


def test_curl_large_upload_under_0_9s(module_server, curl_bin, big_body):
    """The literal check: curl's own total time for the >1 MB upload is under 0.9 s.

    Only meaningful when the server handles the body itself in well under a second (release
    build); a debug build needs seconds per MB, which a no-Expect baseline shows: then skip.
    """
    path, bnd, big = big_body
    url = f"{module_server.base}/studies"
    ctype = f"Content-Type: {stow_content_type(bnd)}"
    code, baseline = curl(curl_bin, url, "-H", ctype, "-H", "Expect:", body_file=path)
    assert code == 200
    if baseline > 0.4:
        pytest.skip(f"server needs {baseline:.2f} s for this body without Expect "
                    f"(debug build?): the 0.9 s bound cannot separate the 1 s Expect wait")
    code, seconds = curl(curl_bin, url, "-H", ctype, body_file=path)
    assert code == 200
    assert seconds < MAX_SECONDS, f"curl took {seconds:.3f} s: is Expect: 100-continue answered?"


def test_curl_explicit_expect_small_body(module_server, curl_bin, tmp_path):
    ds = make_dataset(patient_name="Expect^Small")
    body, bnd = multipart([to_bytes(ds)])
    path = tmp_path / "small.bin"
    path.write_bytes(body)
    code, seconds = curl(curl_bin, f"{module_server.base}/studies", "-H",
                         f"Content-Type: {stow_content_type(bnd)}", "-H", "Expect: 100-continue",
                         body_file=path)
    assert code == 200
    assert seconds < MAX_SECONDS, seconds


def test_curl_response_body(module_server, curl_bin, big_body):
    """Identical re-store of the whole body (stored by the tests above): 200, six references."""
    path, bnd, big = big_body
    out = curl_body(curl_bin, f"{module_server.base}/studies", "-H",
                    f"Content-Type: {stow_content_type(bnd)}", "-H",
                    "Accept: application/dicom+json", body_file=path)
    body = json.loads(out)
    assert referenced_uids(body)[0] == big.SOPInstanceUID
    assert len(referenced_uids(body)) == 6
    assert failure_reasons(body) == []


def test_curl_too_large_is_refused_fast(start_server, curl_bin, big_body):
    """Over --max-request-bytes: a final 413 instead of 100 Continue, no 1 s wait (curl's
    default Expect handling, total < 0.9 s)."""
    srv = start_server("--max-request-bytes", "1000000")
    path, bnd, big = big_body
    code, seconds = curl(curl_bin, f"{srv.base}/studies", "-H",
                         f"Content-Type: {stow_content_type(bnd)}", body_file=path)
    assert code == 413
    assert seconds < MAX_SECONDS, seconds
    assert qido_json(srv.base, "instances") == []


def test_curl_wrong_type_is_refused_fast(module_server, curl_bin, big_body):
    """415 before the body: curl's default 1 s Expect wait must not happen."""
    path, bnd, big = big_body
    code, seconds = curl(curl_bin, f"{module_server.base}/studies", "-H",
                         "Content-Type: application/dicom", body_file=path)
    assert code == 415
    assert seconds < MAX_SECONDS, seconds


def test_curl_chunked_upload(module_server, curl_bin, big_body):
    path, bnd, big = big_body
    code, seconds = curl(curl_bin, f"{module_server.base}/studies", "-H",
                         f"Content-Type: {stow_content_type(bnd)}", "-H",
                         "Transfer-Encoding: chunked", "--expect100-timeout", "30",
                         "--max-time", "25", body_file=path)
    assert code == 200
    assert seconds < 20, seconds


def test_curl_qido(module_server, curl_bin):
    out = subprocess.run([curl_bin, "-s", "-S", "-g", "-H", "Accept: application/dicom+json",
                          f"{module_server.base}/studies?PatientName=Big%5EUpload"],
                         capture_output=True, check=True, timeout=30)
    results = json.loads(out.stdout)
    assert len(results) == 1
    assert results[0]["00100010"]["Value"][0]["Alphabetic"] == "Big^Upload"
