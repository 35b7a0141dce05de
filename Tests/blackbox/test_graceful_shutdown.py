"""SIGTERM and SIGINT shut the server down gracefully: a request in flight finishes (200), new
connections are refused, the process exits 0 within seconds and the archive is closed, so a
restart on the same data folder opens it (the folder lock was released) and finds the instance.
"""
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from bbhelpers import SOP_UID, make_dataset, multipart, qido_json, stow_content_type, to_bytes, uids

EXIT_WITHIN = 10.0


def slow_stow(port, body, content_type, signal_sent, result):
    """A STOW whose body arrives in small pieces, the rest only after the signal was sent."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall((f"POST /dicom-web/studies HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                          f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode())
            sock.sendall(body[:4096])
            result["started"].set()
            signal_sent.wait(10)
            for start in range(4096, len(body), 16384):
                sock.sendall(body[start:start + 16384])
                time.sleep(0.01)
            response = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                response += chunk
            result["response"] = response
    except Exception as error:  # reported by the test
        result["error"] = error


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_lets_the_request_in_flight_finish_then_closes_the_archive(start_server, minivna_bin, tmp_data_root, sig):
    data = str(tmp_data_root / "data")
    srv = start_server(data_dir=data)
    ds = make_dataset(patient_name="Slow^Upload", extra_bytes=256 * 1024)
    body, bnd = multipart([to_bytes(ds)])
    signal_sent = threading.Event()
    result = {"started": threading.Event()}
    sender = threading.Thread(target=slow_stow, args=(srv.port, body, stow_content_type(bnd), signal_sent, result))
    sender.start()
    assert result["started"].wait(10), "the upload did not start"
    time.sleep(0.2)  # the request is in the route, reading its body
    srv.proc.send_signal(sig)
    signal_sent.set()
    t0 = time.monotonic()
    sender.join(30)
    assert "error" not in result, result.get("error")
    assert result.get("response", b"").startswith(b"HTTP/1.1 200"), result.get("response", b"")[:300]

    returncode = srv.proc.wait(timeout=EXIT_WITHIN)
    assert returncode == 0, srv.log()
    assert time.monotonic() - t0 < EXIT_WITHIN
    assert "archive closed" in srv.log(), srv.log()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()

    # The folder lock is gone: verify (which refuses a folder in use) and a restart open it.
    verify = subprocess.run([str(minivna_bin), "verify", "--data", data], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    again = start_server(data_dir=data)
    found = qido_json(again.base, "instances", {"SOPInstanceUID": ds.SOPInstanceUID})
    assert uids(found, SOP_UID) == [ds.SOPInstanceUID]


def test_an_idle_server_exits_at_once_on_sigterm(start_server):
    srv = start_server()
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=EXIT_WITHIN) == 0, srv.log()
    assert time.monotonic() - t0 < 3.0
