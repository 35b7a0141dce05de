"""`minivna demo-data`: five patients in four character sets, CT, MR, CR, US and SR studies,
every instance valid for dciodvfy, names decoded right through QIDO, a second run all already
stored."""
import pathlib
import shutil
import subprocess

import pydicom
import pytest

import bbhelpers as bb


def test_demo_data_builds_a_realistic_archive(minivna_bin, start_server, tmp_path):
    data = tmp_path / "data"
    first = subprocess.run([str(minivna_bin), "demo-data", "--data", str(data)], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "5 patients" in first.stdout and "already stored 0" in first.stdout
    again = subprocess.run([str(minivna_bin), "demo-data", "--data", str(data)], capture_output=True, text=True, timeout=300)
    assert "stored 0," in again.stdout
    if shutil.which("dciodvfy"):
        checked = set()
        for path in sorted(p for p in data.rglob("*") if p.is_file() and not p.name.startswith(("index", "primary", "."))):
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception:
                continue
            if ds.Modality in checked:
                continue
            checked.add(ds.Modality)
            errors = [l for l in subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True).stderr.splitlines()
                      if l.startswith("Error")]
            assert errors == [], (ds.Modality, errors)
        assert checked == {"CT", "MR", "CR", "US", "SR"}
    server = start_server(data_dir=str(data))
    studies = bb.qido_json(server.base, "studies", {"includefield": "00080061"})
    modalities = {m for s in studies for m in (s.get("00080061", {}).get("Value") or [])}
    assert {"CT", "MR", "CR", "US", "SR"} <= modalities and len(studies) == 6   # the report is in the CT study
    names = {s["00100010"]["Value"][0]["Alphabetic"] for s in studies}
    assert {"Müller^Jürgen", "Иванов^Иван", "山田^太郎", "Dupont^Élodie", "Doe^Jane"} <= names
    found = bb.qido_json(server.base, "studies", {"PatientName": "Иванов*"})
    assert len(found) == 1 and found[0]["00080061"]["Value"] == ["MR"]
