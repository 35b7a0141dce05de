"""HTTPS from a certificate and key (a self-signed pair made here): DICOMweb and FHIR over TLS
with the certificate verified, plain HTTP refused on that port, and a key that does not belong
to the certificate refused at start-up."""
import datetime
import subprocess
import threading
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import bbhelpers as bb


def self_signed(folder, name="localhost"):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def start(binary, *args):
    proc = subprocess.Popen([str(binary), "serve", "--port", "0", "--no-ai", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    box = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=30)
    return proc, (box[0].strip() if box else "")


def test_https_with_a_self_signed_certificate(minivna_bin, tmp_path):
    cert, key = self_signed(tmp_path)
    proc, line = start(minivna_bin, "--data", tmp_path / "data", "--tls-certificate", cert, "--tls-key", key)
    try:
        assert line.startswith("listening on https://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() is not None else "")
        port = int(line.rsplit(":", 1)[1])
        base = f"https://localhost:{port}/dicom-web"
        ds = bb.make_dataset()
        body, boundary = bb.multipart([bb.to_bytes(ds)])
        stored = requests.post(f"{base}/studies", data=body, verify=str(cert), timeout=30,
                               headers={"Content-Type": bb.stow_content_type(boundary)})
        assert stored.status_code == 200
        # The RetrieveURL names the scheme the client used.
        assert "https://localhost:" in stored.text
        found = requests.get(f"{base}/studies", params={"StudyInstanceUID": ds.StudyInstanceUID}, verify=str(cert), timeout=30)
        assert found.status_code == 200 and len(found.json()) == 1
        fhir = requests.get(f"https://localhost:{port}/fhir/ImagingStudy/{ds.StudyInstanceUID}", verify=str(cert), timeout=30)
        assert fhir.status_code == 200 and fhir.json()["resourceType"] == "ImagingStudy"
        # An unknown certificate is refused by a verifying client, and plain HTTP gets no answer.
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{base}/studies", timeout=10)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/dicom-web/studies", timeout=10)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_key_that_is_not_the_certificates_is_refused(minivna_bin, tmp_path):
    cert, _ = self_signed(tmp_path, "one")
    _, other_key = self_signed(tmp_path, "two")
    result = subprocess.run([str(minivna_bin), "serve", "--port", "0", "--no-ai", "--data", str(tmp_path / "data"),
                             "--tls-certificate", str(cert), "--tls-key", str(other_key)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "--tls-certificate/--tls-key" in result.stderr
    alone = subprocess.run([str(minivna_bin), "serve", "--port", "0", "--no-ai", "--data", str(tmp_path / "data"),
                            "--tls-certificate", str(cert)], capture_output=True, text=True, timeout=30)
    assert alone.returncode != 0 and "go together" in alone.stderr
