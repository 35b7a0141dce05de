"""Malformed HTTP and slow clients, with raw sockets on loopback: bad framing is a 400 (never a
500), slow-loris heads, stalled and trickling bodies are cut off by the configured limits, and a
normal client is served all the while."""
import socket
import threading
import time

import pytest
import requests


def raw(server, data, shutdown_write=True, timeout=10):
    """Sends bytes, optionally half-closes, and returns everything the server answers."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        if shutdown_write:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (socket.timeout, ConnectionResetError):
            pass
    return b"".join(chunks)


def status_of(answer):
    line = answer.split(b"\r\n", 1)[0]
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1") else None


@pytest.fixture(scope="module")
def limited_server(minivna_bin, tmp_path_factory):
    from conftest import Server
    folder = tmp_path_factory.mktemp("hardening")
    srv = Server(minivna_bin, str(folder / "data"),
                 ["--header-timeout-seconds", "3", "--body-stall-seconds", "3", "--minimum-body-rate", "2000"]).start()
    yield srv
    srv.kill()


def test_a_body_shorter_than_its_content_length_is_400(limited_server):
    head = (b"POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/related; type=\"application/dicom\"; boundary=b\r\n"
            b"Content-Length: 100000\r\n\r\n--b\r\nContent-Type: application/dicom\r\n\r\nDICM")
    assert status_of(raw(limited_server, head)) == 400
    fhir = (b"POST /fhir/Observation HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
            b"Content-Length: 5000\r\n\r\n{\"resourceType\":")
    assert status_of(raw(limited_server, fhir)) == 400


def test_an_invalid_chunk_size_is_400(limited_server):
    chunked = (b"POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: multipart/related; type=\"application/dicom\"; boundary=b\r\n"
               b"Transfer-Encoding: chunked\r\n\r\nZZZZ\r\nhello\r\n0\r\n\r\n")
    assert status_of(raw(limited_server, chunked)) == 400
    truncated = (b"POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: multipart/related; type=\"application/dicom\"; boundary=b\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n400\r\nshort")
    assert status_of(raw(limited_server, truncated)) == 400
    assert requests.get(limited_server.base + "/studies", timeout=10).status_code in (200, 204)


def closed_within(sock, seconds):
    """Seconds until the server closed `sock` (reads return nothing), or None."""
    sock.settimeout(0.5)
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - start
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start
    return None


def test_slow_loris_heads_and_slow_bodies_are_cut_off_while_others_are_served(limited_server):
    stop = threading.Event()
    results = {"loris": [], "stall": [], "trickle": []}

    def loris():
        sock = socket.create_connection(("127.0.0.1", limited_server.port))
        request = b"GET /dicom-web/studies HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        closed = None
        start = time.monotonic()
        for byte in request:
            try:
                sock.send(bytes([byte]))
            except OSError:
                closed = time.monotonic() - start
                break
            time.sleep(0.5)
            if stop.is_set() or time.monotonic() - start > 15:
                break
        if closed is None:
            closed = closed_within(sock, 1)
            closed = None if closed is None else time.monotonic() - start
        results["loris"].append(closed)
        sock.close()

    def upload(trickle):
        sock = socket.create_connection(("127.0.0.1", limited_server.port))
        sock.sendall(b"POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: multipart/related; type=\"application/dicom\"; boundary=b\r\n"
                     b"Content-Length: 1000000\r\n\r\n--b\r\n")
        start = time.monotonic()
        closed = None
        while time.monotonic() - start < 40 and not stop.is_set():
            if trickle:
                try:
                    sock.send(b"x")
                except OSError:
                    closed = time.monotonic() - start
                    break
            waited = closed_within(sock, 1)
            if waited is not None:
                closed = time.monotonic() - start
                break
        results["trickle" if trickle else "stall"].append(closed)
        sock.close()

    threads = [threading.Thread(target=loris) for _ in range(4)]
    threads += [threading.Thread(target=upload, args=(False,)) for _ in range(2)]
    threads += [threading.Thread(target=upload, args=(True,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    served = 0
    try:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            assert requests.get(limited_server.base + "/studies", timeout=5).status_code in (200, 204)
            served += 1
            time.sleep(0.25)
    finally:
        for thread in threads:
            thread.join(timeout=60)
        stop.set()
    assert served > 10
    # Heads: 3 s limit (+1 s checks); stalled bodies: 3 s; trickling bodies: 2000 B/s after 20 s of waiting.
    assert all(t is not None and t < 8 for t in results["loris"]), results
    assert all(t is not None and t < 8 for t in results["stall"]), results
    assert all(t is not None and t < 30 for t in results["trickle"]), results


def test_a_read_only_volume_is_503_reads_go_on_and_writes_resume_without_a_restart(start_server):
    import os
    import shutil
    import subprocess

    import bbhelpers as bb
    if os.geteuid() != 0 or not shutil.which("chattr"):
        pytest.skip("needs root and chattr (immutable files stand in for a read-only volume)")
    server = start_server()
    ds = bb.make_dataset()
    assert bb.stow(server.base, [bb.to_bytes(ds)]).status_code == 200
    if subprocess.run(["chattr", "-R", "+i", server.data_dir], capture_output=True).returncode != 0:
        pytest.skip("the file system of the data folder does not support chattr +i")
    try:
        refused = bb.stow(server.base, [bb.to_bytes(bb.make_dataset())])
        assert refused.status_code == 503, refused.text
        assert "takes no writes" in refused.json()["error"] and server.data_dir not in refused.text
        assert requests.get(f"{server.base}/studies", timeout=10).status_code == 200
        metadata = requests.get(f"{server.base}/studies/{ds.StudyInstanceUID}/metadata", timeout=10)
        assert metadata.status_code == 200
        ready = requests.get(f"{server.origin}/health/ready", timeout=10)
        assert ready.status_code == 503 and ready.json()["checks"]["storage"] != "pass"
        assert server.proc.poll() is None
    finally:
        subprocess.run(["chattr", "-R", "-i", server.data_dir], check=True)
    again = bb.make_dataset()
    assert bb.stow(server.base, [bb.to_bytes(again)]).status_code == 200
    assert requests.get(f"{server.origin}/health/ready", timeout=10).status_code == 200
    found = bb.qido_json(server.base, "studies", {"StudyInstanceUID": again.StudyInstanceUID})
    assert len(found) == 1
