#!/usr/bin/env python3
"""QIDO-RS latency at scale: OHIF's queries against a 1,000,000-instance MiniVNA index.

Run by hand from the repository root after a release build (not part of CI):

    swift build -c release --product minivna
    python3 Benchmarks/qido_scale.py [--instances 1000000] [--runs 200] [--minivna PATH]

What it does:
  1. Generates (once; cached in Benchmarks/.scale-data/N/, gitignored) a data folder whose
     files/ holds N small, valid Part 10 instances (Explicit VR Little Endian, header
     attributes only, no pixel data: the index is what is measured) written by a minimal
     encoder below, not pydicom, so that a million files take minutes. 50 instances per study
     on average (1-4 series of 5-40), one patient per 2.5 studies, names with accents in UTF-8
     (ISO_IR 192), dates 2000-2024, CT/MR/US/CR/DX.
  2. Builds the index from those files with `minivna reindex` (timed): the same code path as
     STOW's index rows, so the index is what a real archive of that size would have.
  3. Starts `minivna serve` on that folder and runs each query shape --runs times with
     seeded value variants over one keep-alive connection (http.client), reporting p50/p95 in
     ms and checking result counts against what the generator produced where they are exact.
  4. Prints a table with the target: p95 under 20 ms at 1,000,000 instances (also for the FHIR
     ImagingStudy search by patient, whose issue sets the same 20 ms target at 20,000 studies).

This is a benchmark, not a test: exit 0 whether the target is met or not; 2 if the binary is
missing, 1 on other errors (including a result-count mismatch, which would mean a wrong answer).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "Benchmarks" / ".scale-data"

SURNAMES = ["Smith", "Müller", "García", "Nováček", "Søren", "Dubois", "Rossi", "Öztürk", "Kowalski",
            "Nakamura", "Johansson", "Pérez", "Núñez", "Ivanova", "O'Brien", "Schmidt", "Łukasz",
            "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor", "Moore"]
GIVEN = ["Anna", "José", "Zoë", "Björn", "Chloé", "Jean", "Maria", "Li", "Ahmed", "Olga", "Peter",
         "Sara", "Tomás", "Ingrid", "Ravi", "Élodie", "Kenji", "Fatima", "Lars", "Noémie"]
MODALITIES = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4",
              "US": "1.2.840.10008.5.1.4.1.1.6.1", "CR": "1.2.840.10008.5.1.4.1.1.1",
              "DX": "1.2.840.10008.5.1.4.1.1.1.1"}
DESCRIPTIONS = {"CT": ["CT CHEST", "CT ABDOMEN PELVIS", "CT HEAD W/O"], "MR": ["MR BRAIN", "MR KNEE", "MR SPINE L"],
                "US": ["US ABDOMEN", "US THYROID"], "CR": ["CR CHEST PA", "CR HAND"], "DX": ["DX PELVIS AP", "DX KNEE"]}
EXPLICIT_LE = "1.2.840.10008.1.2.1"
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UT", "UR"}


# --- a minimal Explicit VR Little Endian writer (only what the synthetic files need) -------------

def element(tag: int, vr: str, value: str | bytes) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if len(raw) % 2:
        raw += b"\0" if vr == "UI" else b" "
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(raw)) + raw


def part10(elements: list[tuple[int, str, str]], sop_class: str, sop_instance: str) -> bytes:
    meta_body = b"".join([
        struct.pack("<HH2sHI", 0x0002, 0x0001, b"OB", 0, 2) + b"\0\1",
        element(0x00020002, "UI", sop_class),
        element(0x00020003, "UI", sop_instance),
        element(0x00020010, "UI", EXPLICIT_LE),
        element(0x00020012, "UI", "2.25.1"),
    ])
    meta = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(meta_body))
    body = b"".join(element(t, vr, v) for t, vr, v in sorted(elements))
    return b"\0" * 128 + b"DICM" + meta + meta_body + body


# --- the synthetic archive ---------------------------------------------------------------------

class Truth:
    """What the generator produced, for exact result counts."""

    def __init__(self) -> None:
        self.studies: list[dict] = []          # per study: uid, patient id, date, modalities, series uids
        self.series_instances: dict[str, int] = {}


def generate(folder: Path, instances: int, seed: int = 7) -> Truth:
    rng = random.Random(seed)
    truth = Truth()
    files = folder / "files" / "synthetic"
    written = 0
    study_index = 0
    patients: list[tuple[str, str, str, str]] = []
    t0 = time.perf_counter()
    while written < instances:
        if not patients or rng.random() < 0.4:
            name = f"{rng.choice(SURNAMES)}^{rng.choice(GIVEN)}"
            if rng.random() < 0.2:
                name = name.upper()
            patients.append((f"P{len(patients):07d}", name, f"{rng.randint(1930, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
                             rng.choice("MFO")))
        pid, pname, birth, sex = rng.choice(patients[-50:])
        study_uid = f"2.25.{10**30 + study_index}"
        day = rng.randint(0, 25 * 365 - 1)
        year, rest = 2000 + day // 365, day % 365
        study_date = f"{year}{rest // 28 % 12 + 1:02d}{rest % 28 + 1:02d}"
        study_time = f"{rng.randint(7, 19):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d}"
        modality = rng.choice(list(MODALITIES))
        accession = f"A{study_index:08d}"
        description = rng.choice(DESCRIPTIONS[modality])
        referring = f"{rng.choice(SURNAMES)}^{rng.choice(GIVEN)}^^Dr"
        study_dir = files / f"{study_index // 1000:04d}" / f"{study_index % 1000:03d}"
        study_dir.mkdir(parents=True, exist_ok=True)
        series_count = rng.randint(1, 4)
        series_uids = []
        modalities = set()
        for s in range(series_count):
            series_modality = modality if s == 0 or rng.random() < 0.8 else rng.choice(list(MODALITIES))
            modalities.add(series_modality)
            series_uid = f"{study_uid}.{s + 1}"
            series_uids.append(series_uid)
            count = rng.randint(5, 40)
            truth.series_instances[series_uid] = count
            for n in range(count):
                sop_uid = f"{series_uid}.{n + 1}"
                sop_class = MODALITIES[series_modality]
                elements = [
                    (0x00080005, "CS", "ISO_IR 192"), (0x00080016, "UI", sop_class), (0x00080018, "UI", sop_uid),
                    (0x00080020, "DA", study_date), (0x00080021, "DA", study_date), (0x00080030, "TM", study_time),
                    (0x00080050, "SH", accession), (0x00080060, "CS", series_modality), (0x00080090, "PN", referring),
                    (0x00081030, "LO", description), (0x0008103E, "LO", f"{series_modality} series {s + 1}"),
                    (0x00100010, "PN", pname), (0x00100020, "LO", pid), (0x00100030, "DA", birth),
                    (0x00100040, "CS", sex), (0x0020000D, "UI", study_uid), (0x0020000E, "UI", series_uid),
                    (0x00200010, "SH", f"S{study_index}"), (0x00200011, "IS", str(s + 1)), (0x00200013, "IS", str(n + 1)),
                ]
                (study_dir / f"{s + 1}.{n + 1}.dcm").write_bytes(part10(elements, sop_class, sop_uid))
                written += 1
        truth.studies.append({"uid": study_uid, "patientID": pid, "date": study_date, "modalities": sorted(modalities),
                              "series": series_uids, "accession": accession})
        study_index += 1
        if study_index % 1000 == 0:
            rate = written / (time.perf_counter() - t0)
            print(f"  generated {written:,} instances ({study_index:,} studies, {rate:,.0f}/s)", flush=True)
    return truth


# --- queries -----------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--minivna", default=str(ROOT / ".build" / "release" / "minivna"))
    args = parser.parse_args()
    binary = Path(args.minivna)
    if not binary.exists():
        print(f"no binary at {binary}: swift build -c release --product minivna", file=sys.stderr)
        return 2

    folder = CACHE / str(args.instances)
    truth_file = folder / "truth.json"
    if not truth_file.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        print(f"generating {args.instances:,} instances in {folder} ...", flush=True)
        t0 = time.perf_counter()
        truth = generate(folder, args.instances)
        print(f"  generated in {time.perf_counter() - t0:.0f} s", flush=True)
        (folder / "index.sqlite").unlink(missing_ok=True)
        t0 = time.perf_counter()
        done = subprocess.run([str(binary), "reindex", "--data", str(folder)], capture_output=True, text=True)
        reindex_seconds = time.perf_counter() - t0
        if done.returncode != 0:
            print(done.stdout, done.stderr, file=sys.stderr)
            return 1
        print(f"  reindex: {reindex_seconds:.0f} s ({args.instances / reindex_seconds:,.0f} instances/s): {done.stdout.strip()}",
              flush=True)
        truth_file.write_text(json.dumps({"studies": truth.studies, "series_instances": truth.series_instances,
                                          "reindex_seconds": reindex_seconds}))
    saved = json.loads(truth_file.read_text())
    studies = saved["studies"]
    series_instances = saved["series_instances"]

    server = subprocess.Popen([str(binary), "serve", "--port", "0", "--data", str(folder)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        match = re.search(r"listening on http://([^:]+):(\d+)", line)
        if not match:
            print(f"server did not start: {line!r}", file=sys.stderr)
            return 1
        connection = http.client.HTTPConnection(match.group(1), int(match.group(2)), timeout=60)

        def get(path: str) -> list:
            if path.startswith("/fhir/"):
                connection.request("GET", path, headers={"Accept": "application/fhir+json"})
                response = connection.getresponse()
                body = json.loads(response.read())
                if response.status != 200:
                    raise RuntimeError(f"GET {path}: HTTP {response.status}: {body}")
                return [e for e in body.get("entry", []) if e["search"]["mode"] == "match"]
            connection.request("GET", "/dicom-web" + path, headers={"Accept": "application/dicom+json"})
            response = connection.getresponse()
            body = response.read()
            if response.status not in (200, 204):
                raise RuntimeError(f"GET {path}: HTTP {response.status}: {body[:300]!r}")
            return json.loads(body) if body else []

        rng = random.Random(11)
        ohif_fields = "includefield=00081030,00080060,00080090,00100030"
        by_patient: dict[str, int] = {}
        for s in studies:
            by_patient[s["patientID"]] = by_patient.get(s["patientID"], 0) + 1

        def study_by_patient_id():
            s = rng.choice(studies)
            return f"/studies?PatientID={s['patientID']}&{ohif_fields}", by_patient[s["patientID"]]

        def study_by_accession():
            s = rng.choice(studies)
            return f"/studies?AccessionNumber={s['accession']}", 1

        def ohif_default_list():
            return f"/studies?limit=101&offset=0&fuzzymatching=false&{ohif_fields}", 101

        def ohif_name_wildcard():
            return f"/studies?PatientName=*{quote(rng.choice(SURNAMES)[1:4].lower())}*&limit=101&offset=0&{ohif_fields}", None

        def ohif_patient_id_wildcard():
            return f"/studies?00100020=*{rng.randint(100, 999)}*&limit=101&{ohif_fields}", None

        def ohif_accession_wildcard():
            return f"/studies?AccessionNumber=*{rng.randint(1000, 9999)}*&limit=101&{ohif_fields}", None

        def ohif_description_wildcard():
            return f"/studies?StudyDescription=*{rng.choice(['CHEST', 'BRAIN', 'KNEE', 'PELVIS'])}*&limit=101&{ohif_fields}", None

        def ohif_modality_and_range():
            year = rng.randint(2000, 2023)
            return (f"/studies?ModalitiesInStudy={rng.choice(list(MODALITIES))}&StudyDate={year}0101-{year}0630"
                    f"&limit=101&offset=0&{ohif_fields}"), None

        def ohif_everything():
            s = rng.choice(studies)
            return (f"/studies?PatientName=*{quote(rng.choice(SURNAMES)[1:4].lower())}*&00100020=*{s['patientID'][-3:]}*"
                    f"&AccessionNumber=*{s['accession'][-3:]}*&StudyDescription=*A*&ModalitiesInStudy={s['modalities'][0]}"
                    f"&StudyDate=20000101-20241231&limit=101&offset=0&fuzzymatching=false&{ohif_fields}"), None

        def fuzzy_name():
            return f"/studies?PatientName={quote(rng.choice(SURNAMES).lower())}&fuzzymatching=true&limit=101&{ohif_fields}", None

        def deep_page():
            return f"/studies?limit=101&offset={rng.randint(len(studies) // 2, len(studies) - 200)}&{ohif_fields}", 101

        def series_of_study():
            s = rng.choice(studies)
            return f"/studies/{s['uid']}/series?includefield=0008103E,00080021", len(s["series"])

        def instances_of_series():
            s = rng.choice(studies)
            series = rng.choice(s["series"])
            return f"/studies/{s['uid']}/series/{series}/instances", series_instances[series]

        # FHIR: the patients of a sample of studies (their Patient ids come from ImagingStudy.subject).
        fhir_patients = []
        for s in rng.sample(studies, 50):
            connection.request("GET", f"/fhir/ImagingStudy/{s['uid']}", headers={"Accept": "application/fhir+json"})
            study_resource = json.loads(connection.getresponse().read())
            fhir_patients.append((study_resource["subject"]["reference"], by_patient[s["patientID"]]))

        def fhir_studies_by_patient():
            reference, expected = rng.choice(fhir_patients)
            return f"/fhir/ImagingStudy?patient={reference}&_count=100", expected

        shapes = [
            ("FHIR ImagingStudy?patient=", fhir_studies_by_patient),
            ("studies by PatientID", study_by_patient_id), ("studies by AccessionNumber", study_by_accession),
            ("OHIF study list (no filter)", ohif_default_list), ("OHIF PatientName=*x*", ohif_name_wildcard),
            ("OHIF 00100020=*123*", ohif_patient_id_wildcard), ("OHIF AccessionNumber=*x*", ohif_accession_wildcard),
            ("OHIF StudyDescription=*x*", ohif_description_wildcard), ("OHIF modality + date range", ohif_modality_and_range),
            ("OHIF all filters", ohif_everything), ("PatientName fuzzy", fuzzy_name), ("deep page offset", deep_page),
            ("OHIF series of a study", series_of_study), ("instances of a series", instances_of_series),
        ]
        print(f"index: {len(studies):,} studies generated; serving {folder}", flush=True)
        rows = []
        mismatches = 0
        for label, make in shapes:
            for _ in range(5):
                get(make()[0])  # warm-up
            times = []
            results = []
            for _ in range(args.runs):
                path, expected = make()
                t0 = time.perf_counter()
                answer = get(path)
                times.append((time.perf_counter() - t0) * 1000)
                results.append(len(answer))
                if expected is not None and len(answer) != expected:
                    mismatches += 1
                    if mismatches <= 5:
                        print(f"  count mismatch: {path}: {len(answer)} results, expected {expected}", file=sys.stderr)
            rows.append((label, statistics.median(times), percentile(times, 95), statistics.mean(results)))
        print(f"\nQIDO at {args.instances:,} instances ({len(studies):,} studies), {args.runs} runs per shape, "
              f"reindex {saved.get('reindex_seconds', 0):.0f} s")
        print(f"{'query shape':32} {'p50 ms':>8} {'p95 ms':>8} {'results':>8}  target p95 < 20 ms")
        for label, p50, p95, mean_results in rows:
            print(f"{label:32} {p50:8.2f} {p95:8.2f} {mean_results:8.1f}  {'PASS' if p95 < 20 else 'MISS'}")
        print(f"count mismatches: {mismatches}")
        return 1 if mismatches else 0
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
