"""Authentication, authorization and the access audit, against the real server.

A server is started with API keys (MINIVNA_API_KEYS), a credentials file (a Basic user with a
bcrypt hash, HS256/RS256/ES256 JWT keys, issuer and audience) and checked as a client would
see it: real dicomweb-client sessions with a bearer token, 401 with WWW-Authenticate, 403 per
role, JWTs that are expired, for another audience or wrongly signed, no secret in the log,
audit rows for each data access, and AuditEvents that validate with fhir.resources R4B.
"""
import base64
import json
import subprocess
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from dicomweb_client.api import DICOMwebClient
from dicomweb_client.session_utils import create_session

from bbhelpers import fixture_files, make_dataset, multipart, stow, stow_content_type, to_bytes

ADMIN = "admin-token-0123456789abcdef"
READER = "reader-token-0123456789abcdef"
WRITER = "writer-token-0123456789abcdef"
REVIEWER = "reviewer-token-0123456789abcd"
HS_SECRET = "an-hs256-secret-of-at-least-32-bytes!!"
ISSUER = "https://idp.example.test"
AUDIENCE = "minivna"
API_KEYS = f"boss:admin:{ADMIN},viewer:reader:{READER},modality:writer:{WRITER},radiologist:reviewer:{REVIEWER}"


@pytest.fixture(scope="module")
def keys():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    return rsa_key, ec_key


def pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def secure_server(minivna_bin, keys, tmp_path_factory):
    from conftest import Server
    folder = tmp_path_factory.mktemp("secure")
    rsa_key, ec_key = keys
    (folder / "rsa.pem").write_text(pem_public(rsa_key))
    (folder / "ec.pem").write_text(pem_public(ec_key))
    bcrypt_hash = subprocess.run([str(minivna_bin), "hash-secret", "--password", "s3cret-pass"],
                                 check=True, capture_output=True, text=True).stdout.strip()
    credentials = {
        "users": [{"name": "legacy", "roles": ["reader"], "bcrypt": bcrypt_hash}],
        "jwt": {"hs256Secrets": [HS_SECRET], "publicKeyFiles": ["rsa.pem", "ec.pem"],
                "issuer": ISSUER, "audience": AUDIENCE},
    }
    (folder / "credentials.json").write_text(json.dumps(credentials))
    srv = Server(minivna_bin, str(folder / "data"),
                 ["--credentials", str(folder / "credentials.json")],
                 env={"MINIVNA_API_KEYS": API_KEYS}).start()
    yield srv
    srv.kill()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def token(key, algorithm, **overrides):
    claims = {"sub": "jwt-user", "iss": ISSUER, "aud": AUDIENCE, "roles": ["reader"],
              "exp": int(time.time()) + 300, "nbf": int(time.time()) - 10}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=algorithm)


def stored_study(server):
    ds = make_dataset(patient_name="Secure^Patient", patient_id="SEC1")
    body, _ = multipart([to_bytes(ds)], boundary="b0undary")
    resp = requests.post(f"{server.base}/studies", data=body,
                         headers={**bearer(WRITER), "Content-Type": stow_content_type("b0undary")}, timeout=30)
    assert resp.status_code == 200, resp.text
    return ds


def test_no_credentials_is_401_with_a_challenge(secure_server):
    for path in ["/dicom-web/studies", "/fhir/ImagingStudy", "/ai/runs", "/audit", "/no/such/route"]:
        resp = requests.get(secure_server.origin + path, timeout=10)
        assert resp.status_code == 401, (path, resp.status_code, resp.text)
        challenges = resp.headers.get("WWW-Authenticate", "")
        assert "Bearer" in challenges and "Basic" in challenges, challenges
    fhir = requests.get(secure_server.origin + "/fhir/ImagingStudy", timeout=10).json()
    assert fhir["resourceType"] == "OperationOutcome" and fhir["issue"][0]["code"] == "login"


def test_open_routes_and_preflight_need_no_credentials(secure_server):
    assert requests.get(secure_server.origin + "/health/live", timeout=10).status_code == 200
    ready = requests.get(secure_server.origin + "/health/ready", timeout=10)
    assert ready.status_code == 200 and ready.json()["status"] == "pass"
    root = requests.get(secure_server.origin + "/", timeout=10)
    assert root.status_code == 200 and "text/html" in root.headers["Content-Type"]
    assert "/dicom-web" in root.text and "/fhir" in root.text and "MiniVNA" in root.text
    preflight = requests.options(secure_server.base + "/studies", timeout=10, headers={
        "Origin": "http://viewer.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code in (200, 204), preflight.status_code
    assert preflight.headers.get("Access-Control-Allow-Origin") in ("*", "http://viewer.example")
    assert "authorization" in preflight.headers.get("Access-Control-Allow-Headers", "").lower()
    # The cross-origin request itself, with its token, works and carries the CORS header.
    resp = requests.get(secure_server.base + "/studies", timeout=10,
                        headers={**bearer(READER), "Origin": "http://viewer.example"})
    assert resp.status_code in (200, 204) and resp.headers.get("Access-Control-Allow-Origin")


def test_roles_are_enforced(secure_server):
    ds = stored_study(secure_server)
    study = ds.StudyInstanceUID
    # A reader reads, cannot store or delete.
    assert requests.get(f"{secure_server.base}/studies/{study}/metadata", headers=bearer(READER), timeout=10).status_code == 200
    body, _ = multipart([to_bytes(make_dataset())], boundary="b0undary")
    denied = requests.post(f"{secure_server.base}/studies", data=body, timeout=10,
                           headers={**bearer(READER), "Content-Type": stow_content_type("b0undary")})
    assert denied.status_code == 403 and "viewer" in denied.json()["error"]
    assert requests.delete(f"{secure_server.base}/studies/{study}", headers=bearer(READER), timeout=10).status_code == 403
    # A writer stores but does not read; a reviewer does not store.
    assert requests.get(f"{secure_server.base}/studies", headers=bearer(WRITER), timeout=10).status_code == 403
    assert requests.post(f"{secure_server.base}/studies", data=body, timeout=10,
                         headers={**bearer(REVIEWER), "Content-Type": stow_content_type("b0undary")}).status_code == 403
    # Only the admin reads the audit.
    assert requests.get(secure_server.origin + "/audit", headers=bearer(READER), timeout=10).status_code == 403
    assert requests.get(secure_server.origin + "/fhir/AuditEvent", headers=bearer(READER), timeout=10).status_code == 403
    assert requests.get(secure_server.origin + "/audit", headers=bearer(ADMIN), timeout=10).status_code == 200
    # A wrong key is 401 with invalid_token.
    wrong = requests.get(f"{secure_server.base}/studies", headers=bearer("not-a-key-at-all-0000"), timeout=10)
    assert wrong.status_code == 401 and "invalid_token" in wrong.headers["WWW-Authenticate"]


def test_dicomweb_client_with_a_bearer_token(secure_server):
    ds = stored_study(secure_server)
    session = create_session()
    session.headers.update(bearer(READER))
    client = DICOMwebClient(url=secure_server.base, session=session)
    found = client.search_for_studies(search_filters={"StudyInstanceUID": ds.StudyInstanceUID})
    assert len(found) == 1
    instance = client.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert instance.SOPInstanceUID == ds.SOPInstanceUID
    anonymous = DICOMwebClient(url=secure_server.base)
    with pytest.raises(requests.HTTPError) as failure:
        anonymous.search_for_studies()
    assert failure.value.response.status_code == 401


def test_jwt_bearer_tokens(secure_server, keys):
    rsa_key, ec_key = keys
    url = f"{secure_server.base}/studies"
    for good in [token(HS_SECRET, "HS256"), token(rsa_key, "RS256"), token(ec_key, "ES256"),
                 token(HS_SECRET, "HS256", roles=None, scope="openid reader")]:
        assert requests.get(url, headers=bearer(good), timeout=10).status_code in (200, 204)
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = {
        "expired": token(HS_SECRET, "HS256", exp=int(time.time()) - 3600),
        "not yet valid": token(HS_SECRET, "HS256", nbf=int(time.time()) + 3600),
        "wrong audience": token(HS_SECRET, "HS256", aud="someone-else"),
        "wrong issuer": token(HS_SECRET, "HS256", iss="https://evil.example"),
        "wrongly signed": token(other_rsa, "RS256"),
        "wrong secret": token("another-secret-of-at-least-32-bytes!!!", "HS256"),
        "no exp": token(HS_SECRET, "HS256", exp=None),
        "no role": token(HS_SECRET, "HS256", roles=[]),
        "ai-service from the IdP": token(HS_SECRET, "HS256", roles=["ai-service"]),
    }
    for name, value in bad.items():
        resp = requests.get(url, headers=bearer(value), timeout=10)
        assert resp.status_code == 401, (name, resp.status_code, resp.text)
    # Unsigned (alg none) is refused.
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps({"sub": "x", "roles": ["admin"], "exp": int(time.time()) + 60,
                                                   "iss": ISSUER, "aud": AUDIENCE}).encode()).rstrip(b"=").decode()
    assert requests.get(url, headers=bearer(f"{header}.{payload}."), timeout=10).status_code == 401
    # A JWT reader may not write.
    resp = requests.delete(f"{secure_server.base}/studies/1.2.3", headers=bearer(token(ec_key, "ES256")), timeout=10)
    assert resp.status_code == 403


def test_basic_authentication(secure_server):
    url = f"{secure_server.base}/studies"
    assert requests.get(url, auth=("legacy", "s3cret-pass"), timeout=10).status_code in (200, 204)
    assert requests.get(url, auth=("legacy", "wrong"), timeout=10).status_code == 401
    assert requests.get(url, auth=("nobody", "s3cret-pass"), timeout=10).status_code == 401


def test_secrets_never_appear_in_the_log(secure_server, keys):
    requests.get(f"{secure_server.base}/studies", headers=bearer(ADMIN), timeout=10)
    requests.get(f"{secure_server.base}/studies", headers=bearer("a-wrong-token-1234567890"), timeout=10)
    requests.get(f"{secure_server.base}/studies", auth=("legacy", "s3cret-pass"), timeout=10)
    log = open(secure_server.log_path, errors="replace").read()
    assert "authentication on" in log and "boss" in log
    for secret in [ADMIN, READER, WRITER, REVIEWER, HS_SECRET, "s3cret-pass", "a-wrong-token-1234567890"]:
        assert secret not in log


def test_access_audit_records_each_data_access(secure_server):
    from fhir.resources.R4B.auditevent import AuditEvent
    ds = stored_study(secure_server)
    study = ds.StudyInstanceUID
    requests.get(f"{secure_server.base}/studies/{study}/metadata", headers=bearer(READER), timeout=10)
    requests.get(f"{secure_server.base}/studies", params={"StudyInstanceUID": study}, headers=bearer(READER), timeout=10)
    requests.delete(f"{secure_server.base}/studies/{study}", headers=bearer(READER), timeout=10)   # 403
    deadline = time.monotonic() + 10
    while True:
        page = requests.get(secure_server.origin + "/audit", params={"study": study}, headers=bearer(ADMIN), timeout=10).json()
        if page["total"] >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    records = page["records"]
    seen = {(r["method"], r["principal"], r["status"]) for r in records}
    assert ("POST", "modality", 200) in seen
    assert ("GET", "viewer", 200) in seen
    assert ("DELETE", "viewer", 403) in seen
    metadata = next(r for r in records if r["path"].endswith("/metadata"))
    assert metadata["roles"] == ["reader"] and metadata["bytes"] > 0 and metadata["clientAddress"].startswith("127.0.0.1")
    # The same as FHIR AuditEvents, valid R4B resources.
    bundle = requests.get(secure_server.origin + "/fhir/AuditEvent", params={"entity": f"ImagingStudy/{study}"},
                          headers=bearer(ADMIN), timeout=10).json()
    assert bundle["total"] == page["total"]
    types = set()
    for entry in bundle["entry"]:
        event = AuditEvent.model_validate(entry["resource"])
        types.add(event.type.code)
        assert event.agent[0].requestor is True
    assert {"110104", "110112"} <= types
    one = requests.get(secure_server.origin + f"/fhir/AuditEvent/{records[0]['id']}", headers=bearer(ADMIN), timeout=10)
    assert one.status_code == 200 and one.json()["id"] == str(records[0]["id"])
    refused = requests.get(secure_server.origin + "/fhir/AuditEvent", params={"agent-name": "viewer", "outcome": "4"},
                           headers=bearer(ADMIN), timeout=10).json()
    assert refused["total"] >= 1


def test_non_loopback_without_credentials_refuses_to_start(minivna_bin, tmp_path):
    result = subprocess.run([str(minivna_bin), "serve", "--host", "0.0.0.0", "--port", "0", "--no-ai",
                             "--data", str(tmp_path / "data")], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "--insecure-no-auth" in result.stderr and "MINIVNA_API_KEYS" in result.stderr


def test_insecure_no_auth_warns(minivna_bin, tmp_path):
    proc = subprocess.Popen([str(minivna_bin), "serve", "--host", "0.0.0.0", "--port", "0", "--no-ai", "--insecure-no-auth",
                             "--data", str(tmp_path / "data")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on")
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    assert "authentication is off" in err and "--insecure-no-auth" in err


def test_bad_credentials_file_names_the_key(minivna_bin, tmp_path):
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"apiKeys": [{"name": "x", "roles": ["raeder"], "sha256": "0" * 64}]}))
    result = subprocess.run([str(minivna_bin), "serve", "--port", "0", "--no-ai", "--credentials", str(path),
                             "--data", str(tmp_path / "data")], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "apiKeys[0].roles" in result.stderr and "raeder" in result.stderr


def test_json_log_lines_parse_and_carry_no_secret(start_server):
    server = start_server("--log-format", "json", env={"MINIVNA_API_KEYS": f"boss:admin:{ADMIN}"})
    assert requests.get(f"{server.base}/studies", headers=bearer(ADMIN), timeout=10).status_code in (200, 204)
    assert requests.get(f"{server.base}/studies", headers=bearer("wrong-token-0123456789"), timeout=10).status_code == 401
    server.stop()
    lines = [line for line in open(server.log_path, errors="replace").read().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert records and all({"time", "level", "label", "message", "source"} <= set(r) for r in records)
    assert any("authentication on" in r["message"] for r in records)
    assert not any(ADMIN in line or "wrong-token-0123456789" in line for line in lines)
