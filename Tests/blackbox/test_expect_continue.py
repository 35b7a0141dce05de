"""`Expect: 100-continue` is answered only once the route accepted the request.

A refused request (wrong Content-Type, too large, unknown path, missing boundary) gets its
final status first, with no `100 Continue` before it and `Connection: close` (the client is not
sending that body); an accepted one gets `100 Continue` at once and then its final status.
Raw sockets, so what the server sends first is seen byte for byte.
"""
import socket
import subprocess

import pytest

from bbhelpers import SOP_UID, make_dataset, multipart, qido_json, stow_content_type, to_bytes, uids

WAIT = 5.0  # what a response line may take; the server must not wait for the body


def first_response(port, path, content_type, length, extra=""):
    """Send only the headers (with Expect: 100-continue); return the first response head."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\nExpect: 100-continue\r\n{extra}\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(head)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(4096)
            assert chunk, f"connection closed before a response: {received!r}"
            received += chunk
        return received[:received.index(b"\r\n\r\n")].decode("latin-1")


@pytest.mark.parametrize("path,content_type,length,status", [
    ("/dicom-web/studies", "application/dicom", 16 << 30, 415),
    ("/dicom-web/studies", "multipart/related; type=\"application/dicom+xml\"; boundary=x", 1 << 20, 415),
    ("/dicom-web/studies", "multipart/related; type=\"application/dicom\"", 1 << 20, 400),
    ("/dicom-web/studies", stow_content_type("x"), 1 << 40, 413),
    ("/dicom-web/nowhere", stow_content_type("x"), 1 << 20, 404),
    ("/fhir/Observation", "text/plain", 1 << 20, 415),
])
def test_a_refused_request_gets_its_final_status_without_100(module_server, path, content_type, length, status):
    head = first_response(module_server.port, path, content_type, length)
    status_line = head.split("\r\n", 1)[0]
    assert status_line.startswith(f"HTTP/1.1 {status}"), head
    assert "connection: close" in head.lower(), head


def test_an_accepted_stow_gets_100_then_200(module_server):
    ds = make_dataset(patient_name="Expect^Accepted", extra_bytes=64 * 1024)
    body, bnd = multipart([to_bytes(ds)])
    head = (f"POST /dicom-web/studies HTTP/1.1\r\nHost: 127.0.0.1:{module_server.port}\r\n"
            f"Content-Type: {stow_content_type(bnd)}\r\nContent-Length: {len(body)}\r\n"
            f"Expect: 100-continue\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", module_server.port), timeout=WAIT) as sock:
        sock.sendall(head)
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = sock.recv(4096)
            assert chunk, "connection closed before 100 Continue"
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100"), interim[:200]
        sock.settimeout(60)
        sock.sendall(body)
        rest = interim[interim.index(b"\r\n\r\n") + 4:]
        while b"\r\n\r\n" not in rest:
            chunk = sock.recv(65536)
            assert chunk, "connection closed before the final response"
            rest += chunk
    assert rest.startswith(b"HTTP/1.1 200"), rest[:300]
    assert b"connection: close" not in rest.lower().split(b"\r\n\r\n")[0]
    found = qido_json(module_server.base, "instances", {"SOPInstanceUID": ds.SOPInstanceUID})
    assert uids(found, SOP_UID) == [ds.SOPInstanceUID]


def test_curl_sees_no_100_before_a_415(module_server, curl_bin, tmp_path):
    """curl (Expect: 100-continue for bodies over 1 MB) gets the 415 straight away."""
    path = tmp_path / "body.bin"
    path.write_bytes(b"\0" * (2 << 20))
    out = subprocess.run([curl_bin, "-v", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                          "--expect100-timeout", "30", "--max-time", "20",
                          "-H", "Content-Type: application/dicom", "--data-binary", f"@{path}",
                          f"{module_server.base}/studies"], capture_output=True, text=True, timeout=60)
    assert out.stdout == "415", out.stderr[-2000:]
    assert "> Expect: 100-continue" in out.stderr
    assert "< HTTP/1.1 100" not in out.stderr, out.stderr[-2000:]
