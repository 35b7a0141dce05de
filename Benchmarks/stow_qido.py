#!/usr/bin/env python3
"""STOW-RS ingest and QIDO-RS latency: MiniVNA vs Orthanc (+ DICOMweb plugin).

Run by hand from the repository root after a release build (not part of CI):

    swift build -c release --product minivna
    python3 Benchmarks/stow_qido.py [--instances 20000] [--skip-orthanc]
                                    [--minivna PATH] [--keep] [--queries-only]

What it does, in one run:
  1. Generates (once; cached in Benchmarks/.corpus-stow/N/, gitignored) a seeded
     synthetic corpus of N instances: patients with realistic names (accents,
     some upper case, Latin-1 or UTF-8 character sets), 1-4 series per study,
     5-50 instances per series, dates 2015-2024, CT/MR/US/CR/DX images
     (64x64, 16-bit, so that file I/O does not dominate) and SR series.
  2. Starts both servers, each on a fresh data folder (MiniVNA: `minivna serve
     --port 0`; Orthanc: /usr/sbin/Orthanc with its own temporary JSON config,
     DICOM port off, the DICOMweb plugin at /dicom-web/) and loads the whole
     corpus into each through four STOW-RS phases (a quarter each):
         1 client x 1 instance/request, 1 client x 50, 4 clients x 1, 4 x 50.
     Each phase runs on one server and then on the other, who goes first
     alternating from phase to phase, so that both meet the same machine
     (this VM's speed drifts; see bench_servers). Multipart bodies are built
     before the clock starts; each client thread has its own keep-alive
     http.client connection. Then it checks through QIDO that each index
     holds every study, series and instance.
  3. Runs each QIDO query shape --runs times (default 200; the values rotate
     over seeded variants, the same URLs for both servers, a few warm-up
     requests first) and reports p50/p95 in ms, plus the number of URLs for
     which the two servers answered a different number of results (and, for
     unpaged queries, a different set of UIDs), and for each server the
     number of URLs whose result count differs from what the corpus implies
     (PN matching taken as case-insensitive; fuzzy queries are not checked).
  4. Prints a table: metric, MiniVNA, Orthanc, ratio (MiniVNA/Orthanc for
     throughput, Orthanc/MiniVNA for time; > 1 means MiniVNA is better) and the
     targets: ingest >= 2x Orthanc's instances/s; QIDO p95 <= 0.5x Orthanc's
     (ratio >= 2). Peak RSS (VmHWM) of each server is read just before it is
     stopped. Every non-2xx answer and every count mismatch is listed after.

Options
  --instances N    corpus size (default 20000)
  --skip-orthanc   MiniVNA only (no ratios)
  --minivna PATH   binary (default .build/release/minivna)
  --keep           keep the loaded data folders in Benchmarks/.stow-data/
  --queries-only   reuse the folders kept by --keep: no STOW, only checks + QIDO
  --runs N         runs per QIDO shape (default 200)
  --data-root DIR  where the (temporary) data folders go (default: the system's
                   temporary folder)

File creation: ext4 without a journal (this VM's disk) skips inodes freed in the
last 1-6 minutes when it allocates new ones, one by one, in the block group of the
new file's folder. Right after a run deleted its data folders, creating a file
in the same area cost 613 us here instead of 43 us, which halves both servers'
single-instance STOW rates. Before the STOW phases the script times 300 file
creations in its data root and warns when they are slow; --data-root elsewhere
(or a few minutes' wait) avoids it.

Caveats: client (Python, GIL-bound) and servers share this machine's cores,
so the 4-client single-instance phase partly measures the client. Both
servers fsync every stored file (Orthanc's SyncStorageArea defaults to true
since 1.7.4; MiniVNA also fsyncs the directory). Orthanc runs with its defaults
(SQLite index, no storage compression) but HTTP compression off (MiniVNA does
not compress either). The study-level
queries with offset 5000 go past the end when the corpus has fewer studies
(20,000 instances make ~430 studies); a "deep page" query at 3/4 of the study
count is added for that reason. STOW rates vary by +-30% from run to run on a
small shared VM; compare several runs before drawing conclusions.

Seen with Orthanc 1.10.1 + DICOMweb plugin 1.7 (Debian 12): percent-encoded
query values are not decoded (%2F, %C3%B6, even %2A match literally), so every
query with a non-ASCII name or a "/" in StudyDescription finds nothing there;
fuzzymatching is ignored; characters outside Latin-1 are dropped from names in
its answers. These show up in the M≠O column and the findings, by design.

This is a benchmark, not a test: exit 0 whether targets are met or not;
2 if the MiniVNA binary (or Orthanc) is missing, 1 on other errors.

Needs: Python 3, pydicom 3.x, numpy, requests; Debian packages orthanc and
orthanc-dicomweb for the comparison.
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import http.client
import json
import os
import queue
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import numpy as np
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CORPUS_DIR = HERE / ".corpus-stow"
KEEP_DIR = HERE / ".stow-data"
GENERATOR_VERSION = 1
SEED = 20240611
BATCH = 50
PHASES = [("STOW 1 client x 1/request", 1, 1), ("STOW 1 client x 50/request", 1, BATCH),
          ("STOW 4 clients x 1/request", 4, 1), ("STOW 4 clients x 50/request", 4, BATCH)]
DICOM_JSON = "application/dicom+json"

# ----------------------------------------------------------------------------
# Corpus
# ----------------------------------------------------------------------------

FAMILY_NAMES = [
    "Smith", "Smithson", "Goldsmith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis",
    "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White",
    "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Hill", "Green", "Adams", "Baker", "Nelson", "O'Brien", "O'Connor", "McDonald", "Murphy", "Kelly",
    "Müller", "Schmidt", "Schneider", "Fischer", "Weiß", "Schröder", "Köhler", "Bäcker", "Hoffmann",
    "García", "Rodríguez", "Martínez", "Hernández", "López", "González", "Pérez", "Sánchez", "Núñez",
    "Peña", "Muñoz", "Jiménez", "Dubois", "Lefèvre", "Bérubé", "Côté", "Gagné", "Mercier", "Faure",
    "Rousseau", "Leclercq", "Rossi", "Bianchi", "Esposito", "Conti", "Ricci", "Silva", "Santos",
    "Gonçalves", "Araújo", "Sørensen", "Jørgensen", "Østergaard", "Åberg", "Lindström", "Söderberg",
    "Björk", "Nyström", "Kowalski", "Wiśniewski", "Dąbrowski", "Łukasiewicz", "Nowak", "Dvořák",
    "Novák", "Horváth", "Nagy", "Kovačević", "Jovanović", "Nguyen", "Tran", "Pham", "Kim", "Lee",
    "Park", "Chen", "Wang", "Li", "Zhang", "Tanaka", "Suzuki", "Yılmaz", "Öztürk", "Şahin",
    "Papadopoulos", "Ivanov", "Byrne", "van der Berg", "de Jong", "Jansen", "Smit",
]
GIVEN_NAMES = [
    "James", "John", "Robert", "Michael", "William", "David", "Mary", "Patricia", "Jennifer", "Linda",
    "Elizabeth", "Susan", "Sarah", "Emily", "Hans", "Jürgen", "Günther", "Jörg", "Anja", "Käthe",
    "José", "María", "Ana", "Jesús", "Inés", "Lucía", "Ramón", "François", "Hélène", "Zoë", "Renée",
    "Chloé", "Noël", "Céline", "Jérôme", "André", "João", "Conceição", "Søren", "Åsa", "Björn",
    "Måns", "Łukasz", "Małgorzata", "Zofia", "Jiří", "Tomáš", "Dorottya", "Ömer", "Çağla", "Minh",
    "Ngọc", "Yuki", "Wei", "Seo-yeon", "Siobhán", "Seán", "Aoife", "Thomas", "Anna", "Peter",
]
PHYSICIANS = ["House^Gregory", "Grey^Meredith", "Lefèvre^Claire", "Okafor^Chidi", "Weber^Stefan",
              "Rao^Priya", "Santos^Miguel", "Nakamura^Ken", ""]

# modality: (weight, series range, instances range, SOP class, [(study description, body part)],
#            [series descriptions], SR series probability)
MODALITIES = {
    "CT": (25, (2, 4), (20, 50), "1.2.840.10008.5.1.4.1.1.2",
           [("CT CHEST W/O CONTRAST", "CHEST"), ("CT ABDOMEN PELVIS W CONTRAST", "ABDOMEN"),
            ("CT HEAD W/O CONTRAST", "HEAD"), ("CT ANGIO CHEST PE", "CHEST"), ("CT SPINE LUMBAR", "LSPINE")],
           ["AXIAL 5MM", "AXIAL 1.25MM", "CORONAL MPR", "SAGITTAL MPR", "SCOUT"], 0.5),
    "MR": (20, (2, 4), (10, 50), "1.2.840.10008.5.1.4.1.1.4",
           [("MR BRAIN W/WO CONTRAST", "BRAIN"), ("MR KNEE RIGHT", "KNEE"), ("MR LUMBAR SPINE", "LSPINE"),
            ("MR PROSTATE", "PROSTATE"), ("MR CARDIAC FUNCTION", "HEART")],
           ["T1 AX", "T2 FSE SAG", "FLAIR AX", "DWI", "T1 POST GAD"], 0.0),
    "US": (15, (1, 2), (5, 30), "1.2.840.10008.5.1.4.1.1.6.1",
           [("US ABDOMEN COMPLETE", "ABDOMEN"), ("US THYROID", "NECK"), ("US OB 2ND TRIMESTER", "PELVIS"),
            ("US CAROTID DOPPLER", "NECK")],
           ["B-MODE", "DOPPLER", "CINE"], 0.3),
    "CR": (20, (1, 3), (5, 8), "1.2.840.10008.5.1.4.1.1.1",
           [("CR CHEST 2 VIEWS", "CHEST"), ("CR HAND LEFT", "HAND"), ("CR PELVIS AP", "PELVIS")],
           ["PA", "LATERAL", "AP", "OBLIQUE"], 0.0),
    "DX": (20, (1, 3), (5, 8), "1.2.840.10008.5.1.4.1.1.1.1",
           [("DX CHEST PA", "CHEST"), ("DX KNEE LEFT 3 VIEWS", "KNEE"), ("DX ANKLE RIGHT", "ANKLE")],
           ["PA", "LATERAL", "AP", "OBLIQUE"], 0.0),
}
SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
IMPLEMENTATION_UID = "2.25.187215427716934093727829381296616371"


def uid(rng: random.Random) -> str:
    return "2.25." + str(rng.getrandbits(122) | (1 << 121))


def charset_for(text: str) -> str | None:
    try:
        text.encode("ascii")
        return None
    except UnicodeEncodeError:
        pass
    try:
        text.encode("latin-1")
        return "ISO_IR 100"
    except UnicodeEncodeError:
        return "ISO_IR 192"


def plan_corpus(n: int) -> list[dict]:
    """The studies (metadata only), deterministic for (SEED, n)."""
    rng = random.Random(SEED)
    studies: list[dict] = []
    used_ids: set[str] = set()
    used_acc: set[str] = set()
    total = 0
    start, days = date(2015, 1, 1), (date(2024, 12, 31) - date(2015, 1, 1)).days
    kinds = list(MODALITIES)
    weights = [MODALITIES[k][0] for k in kinds]
    while total < n:
        family = rng.choice(FAMILY_NAMES)
        given = rng.choice(GIVEN_NAMES)
        name = f"{family}^{given}"
        if rng.random() < 0.2:
            name += "^" + chr(ord("A") + rng.randrange(26))
        if rng.random() < 0.3:
            name = name.upper()
        while (pid := str(rng.randrange(10**7, 10**8))) in used_ids:
            pass
        used_ids.add(pid)
        birth = date(1930, 1, 1) + timedelta(days=rng.randrange(90 * 365))
        sex = rng.choice("MMFFFO")
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            if total >= n:
                break
            kind = rng.choices(kinds, weights)[0]
            _, s_range, i_range, sop_class, descs, series_descs, sr_p = MODALITIES[kind]
            desc, body = rng.choice(descs)
            day = start + timedelta(days=rng.randrange(days + 1))
            while (acc := f"{rng.choice(('A', 'RAD', 'IMG'))}{day.year}{rng.randrange(10**6):06d}") in used_acc:
                pass
            used_acc.add(acc)
            hh, mm = rng.randrange(7, 20), rng.randrange(60)
            n_series = rng.randint(*s_range)
            series = []
            for k in range(n_series):
                is_sr = k == n_series - 1 and n_series > 1 and rng.random() < sr_p
                count = rng.randint(5, 6) if is_sr else rng.randint(*i_range)
                count = min(count, n - total)
                if count <= 0:
                    break
                total += count
                series.append({
                    "uid": uid(rng), "number": k + 1, "modality": "SR" if is_sr else kind,
                    "sop_class": SR_CLASS if is_sr else sop_class,
                    "description": ("DOSE REPORT" if kind == "CT" else "MEASUREMENTS") if is_sr
                    else rng.choice(series_descs),
                    "time": f"{hh:02d}{mm:02d}{k * 3 % 60:02d}", "count": count,
                    "instances": [uid(rng) for _ in range(count)],
                })
            studies.append({
                "uid": uid(rng), "patient_name": name, "patient_id": pid,
                "birth_date": birth.strftime("%Y%m%d"), "sex": sex, "accession": acc,
                "date": day.strftime("%Y%m%d"), "time": f"{hh:02d}{mm:02d}00", "description": desc,
                "body_part": body, "referring": rng.choice(PHYSICIANS), "study_id": str(rng.randrange(1, 99999)),
                "modalities": sorted({s["modality"] for s in series}), "series": series,
            })
    return studies


def make_instance(study: dict, series: dict, index: int, pixels: np.ndarray | None) -> Dataset:
    sop_uid = series["instances"][index]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = series["sop_class"]
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_UID
    meta.ImplementationVersionName = "STOWBENCH_1"
    ds = Dataset()
    ds.file_meta = meta
    charset = charset_for(study["patient_name"])
    if charset:
        ds.SpecificCharacterSet = charset
    is_sr = series["modality"] == "SR"
    if not is_sr:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL" if series["modality"] == "CT" else "OTHER"]
    ds.SOPClassUID = series["sop_class"]
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = study["date"]
    ds.SeriesDate = study["date"]
    ds.ContentDate = study["date"]
    ds.StudyTime = study["time"]
    ds.SeriesTime = series["time"]
    ds.ContentTime = series["time"]
    ds.AccessionNumber = study["accession"]
    ds.Modality = series["modality"]
    ds.Manufacturer = "STOWBENCH"
    ds.InstitutionName = "General Hospital"
    ds.ReferringPhysicianName = study["referring"]
    ds.StudyDescription = study["description"]
    ds.SeriesDescription = series["description"]
    ds.PatientName = study["patient_name"]
    ds.PatientID = study["patient_id"]
    ds.PatientBirthDate = study["birth_date"]
    ds.PatientSex = study["sex"]
    if not is_sr:
        ds.BodyPartExamined = study["body_part"]
    ds.StudyInstanceUID = study["uid"]
    ds.SeriesInstanceUID = series["uid"]
    ds.StudyID = study["study_id"]
    ds.SeriesNumber = series["number"]
    ds.InstanceNumber = index + 1
    if is_sr:
        ds.ValueType = "CONTAINER"
        concept = Dataset()
        concept.CodeValue, concept.CodingSchemeDesignator = "113701", "DCM"
        concept.CodeMeaning = "X-Ray Radiation Dose Report" if study["modalities"][0] == "CT" else "Measurements"
        ds.ConceptNameCodeSequence = Sequence([concept])
        ds.ContinuityOfContent = "SEPARATE"
        ds.CompletionFlag = "COMPLETE"
        ds.VerificationFlag = "UNVERIFIED"
        item = Dataset()
        item.RelationshipType, item.ValueType = "CONTAINS", "TEXT"
        name = Dataset()
        name.CodeValue, name.CodingSchemeDesignator, name.CodeMeaning = "121106", "DCM", "Comment"
        item.ConceptNameCodeSequence = Sequence([name])
        item.TextValue = f"Synthetic report {index + 1}"
        ds.ContentSequence = Sequence([item])
    else:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = 64
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.WindowCenter, ds.WindowWidth = 2048, 4096
        ds.PixelData = pixels.tobytes()
    return ds


def ensure_corpus(n: int) -> list[dict]:
    """Generates Benchmarks/.corpus-stow/N/ unless its stamp matches; returns the study plan."""
    stamp = {"version": GENERATOR_VERSION, "seed": SEED, "instances": n}
    corpus = corpus_dir(n)
    stamp_file = corpus / "stamp.json"
    manifest = corpus / "manifest.json"
    if stamp_file.exists() and manifest.exists():
        try:
            if json.loads(stamp_file.read_text()) == stamp:
                return json.loads(manifest.read_text())
        except ValueError:
            pass
    if corpus.exists():
        shutil.rmtree(corpus)
    (corpus / "files").mkdir(parents=True)
    studies = plan_corpus(n)
    nprng = np.random.default_rng(SEED)
    base = (np.add.outer(np.arange(64), np.arange(64)) * 32).astype(np.uint16)
    t0 = time.perf_counter()
    i = 0
    for study in studies:
        for series in study["series"]:
            for k in range(series["count"]):
                pixels = None
                if series["modality"] != "SR":
                    pixels = (base + nprng.integers(0, 64, (64, 64), dtype=np.uint16)) & 0x0FFF
                ds = make_instance(study, series, k, pixels)
                ds.save_as(corpus / "files" / f"{i:06d}.dcm", enforce_file_format=True)
                i += 1
        if i // 5000 != (i - sum(x["count"] for x in study["series"])) // 5000:
            print(f"corpus: {i}/{n} instances", flush=True)
    assert i == n, (i, n)
    manifest.write_text(json.dumps(studies))
    stamp_file.write_text(json.dumps(stamp))
    print(f"corpus: generated {n} instances, {len(studies)} studies in {time.perf_counter() - t0:.1f} s "
          f"-> {corpus}", flush=True)
    return studies


def corpus_files(n: int) -> list[Path]:
    return [corpus_dir(n) / "files" / f"{i:06d}.dcm" for i in range(n)]


def corpus_dir(n: int) -> Path:
    return CORPUS_DIR / str(n)  # one folder per size, so a small trial run keeps the big corpus


# ----------------------------------------------------------------------------
# Servers
# ----------------------------------------------------------------------------

_children: list[subprocess.Popen] = []
_children_lock = threading.Lock()


def _die_with_parent() -> None:
    # Linux: the child gets SIGTERM if this Python process dies (even from SIGKILL).
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    with _children_lock:
        if proc in _children:
            _children.remove(proc)


def cleanup_children() -> None:
    with _children_lock:
        procs = list(_children)
    for proc in procs:
        try:
            stop_process(proc)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass


def _on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    base: str  # .../dicom-web
    data: Path
    log: Path
    peak_rss: float | None = None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.peak_rss = peak_rss_mib(self.proc.pid)
        stop_process(self.proc)


def spawn(cmd: list[str], log: Path) -> subprocess.Popen:
    with _children_lock:
        out = open(log, "ab")
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=_die_with_parent)
        out.close()
        _children.append(proc)
    return proc


def start_minivna(binary: Path, data: Path, log: Path, extra_args: tuple[str, ...] = (), name: str = "MiniVNA") -> Server:
    start = log.stat().st_size if log.exists() else 0  # the log may hold earlier runs (--queries-only)
    proc = spawn([str(binary), "serve", "--host", "127.0.0.1", "--port", "0", "--data", str(data), *extra_args], log)
    deadline = time.time() + 60
    while time.time() < deadline:
        with open(log, "rb") as f:
            f.seek(start)
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", f.read().decode(errors="replace"))
        if m:
            return Server(name, proc, m.group(1) + "/dicom-web", data, log)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    stop_process(proc)
    raise RuntimeError(f"MiniVNA did not start; see {log}:\n{log.read_text(errors='replace')[-2000:]}")


def orthanc_plugin() -> str | None:
    try:
        out = subprocess.run(["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    libs = [line for line in out.splitlines() if re.search(r"libOrthancDicomWeb\.so", line)]
    libs.sort(key=lambda p: (not p.startswith("/usr/share/orthanc/plugins"), p))
    return libs[0] if libs else None


def start_orthanc(data: Path, log: Path) -> Server:
    binary = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
    plugin = orthanc_plugin()
    if not Path(binary).exists() or not plugin:
        raise FileNotFoundError("Orthanc or its DICOMweb plugin is missing (apt-get install orthanc orthanc-dicomweb)")
    port = free_port()
    config = {
        "Name": "STOWBENCH",
        "StorageDirectory": str(data / "storage"),
        "IndexDirectory": str(data / "index"),
        "HttpPort": port,
        "HttpServerEnabled": True,
        "DicomServerEnabled": False,
        "DicomPort": free_port(),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpCompressionEnabled": False,
        "KeepAlive": True,
        "OrthancExplorerEnabled": False,
        "WebDavEnabled": False,
        "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
    }
    data.mkdir(parents=True, exist_ok=True)
    config_file = data / "orthanc-bench.json"
    config_file.write_text(json.dumps(config, indent=2))
    proc = spawn([binary, str(config_file)], log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        try:
            if requests.get(url + "/dicom-web/studies?limit=1", timeout=2).status_code == 200:
                return Server("Orthanc", proc, url + "/dicom-web", data, log)
        except requests.RequestException:
            pass
        time.sleep(0.1)
    stop_process(proc)
    raise RuntimeError(f"Orthanc did not start; see {log}:\n{log.read_text(errors='replace')[-2000:]}")


# ----------------------------------------------------------------------------
# STOW-RS
# ----------------------------------------------------------------------------

BOUNDARY = "stowbench-7d3c1e0a9b5f4e21"
STOW_HEADERS = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}',
                "Accept": DICOM_JSON}


def multipart_body(paths: list[Path]) -> bytes:
    parts = []
    for p in paths:
        parts.append(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        parts.append(p.read_bytes())
        parts.append(b"\r\n")
    parts.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(parts)


@dataclass
class Finding:
    server: str
    what: str
    detail: str


@dataclass
class StowResult:
    label: str
    instances: int
    seconds: float
    requests: int
    stored: int = 0
    failed: int = 0
    bad_status: int = 0
    server_cpu: float | None = None  # seconds of server CPU (user + system) during the phase

    @property
    def rate(self) -> float:
        return self.instances / self.seconds if self.seconds else 0.0


def stow_phase(server: Server, label: str, clients: int, per_request: int, paths: list[Path],
               findings: list[Finding]) -> StowResult:
    bodies = [(paths[i:i + per_request], multipart_body(paths[i:i + per_request]))
              for i in range(0, len(paths), per_request)]
    work: queue.SimpleQueue = queue.SimpleQueue()
    for item in bodies:
        work.put(item)
    answers: list[tuple[list[Path], int, bytes]] = []
    answers_lock = threading.Lock()
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients + 1)
    url = server.base + "/studies"

    parsed = urllib.parse.urlsplit(url)

    def client() -> None:
        # http.client, not requests: requests costs ~0.9 ms of client CPU per request on this
        # machine, which the GIL-bound client and the server share; that would measure Python.
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)
        local = []
        try:
            barrier.wait()
            while True:
                try:
                    item_paths, body = work.get_nowait()
                except queue.Empty:
                    break
                connection.request("POST", parsed.path, body=body,
                                   headers={**STOW_HEADERS, "Content-Length": str(len(body))})
                response = connection.getresponse()
                local.append((item_paths, response.status, response.read()))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()
            with answers_lock:
                answers.extend(local)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    cpu0 = cpu_seconds(server.proc.pid)
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    cpu1 = cpu_seconds(server.proc.pid)
    if errors:
        raise RuntimeError(f"{server.name} {label}: client error: {errors[0]!r}")
    result = StowResult(label, len(paths), seconds, len(bodies))
    if cpu0 is not None and cpu1 is not None:
        result.server_cpu = cpu1 - cpu0
    for item_paths, status, content in answers:
        stored = failed = 0
        try:
            doc = json.loads(content) if content else {}
            stored = len(doc.get("00081199", {}).get("Value", []))
            failed = len(doc.get("00081198", {}).get("Value", []))
        except (ValueError, AttributeError):
            pass
        if status != 200:
            result.bad_status += 1
            if result.bad_status <= 5:
                findings.append(Finding(server.name, f"{label}: HTTP {status}",
                                        f"POST /studies with {item_paths[0].name}..{item_paths[-1].name} "
                                        f"({len(item_paths)} parts): {content[:400]!r}"))
        if failed and status == 200:
            findings.append(Finding(server.name, f"{label}: failed instances in a 200 answer",
                                    f"{item_paths[0].name}..: {content[:400]!r}"))
        result.stored += stored
        result.failed += failed
    return result


# ----------------------------------------------------------------------------
# QIDO-RS
# ----------------------------------------------------------------------------

def month_range(day: str) -> str:
    y, m = int(day[:4]), int(day[4:6])
    last = (date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)).day
    return f"{y:04d}{m:02d}01-{y:04d}{m:02d}{last:02d}"


def q(value: str) -> str:
    return quote(value, safe="*?-,")


@dataclass
class Shape:
    label: str
    paged: bool  # limit/offset: compare counts only (servers may order differently)
    urls: list[str]  # relative to .../dicom-web; `runs` of them, seeded, the same for both servers
    expected: dict[str, int | None]  # url -> result count the corpus implies (None: not checked)


def query_shapes(studies: list[dict], runs: int) -> list[Shape]:
    rng = random.Random(SEED + 1)
    pick = lambda: rng.choice(studies)  # noqa: E731
    family = lambda s: s["patient_name"].split("^")[0]  # noqa: E731
    count = lambda pred: sum(1 for st in studies if pred(st))  # noqa: E731
    shapes: list[Shape] = []

    def add(label: str, paged: bool, make) -> None:
        shape = Shape(label, paged, [], {})
        for _ in range(runs):
            url, expected = make()
            shape.urls.append(url)
            shape.expected[url] = expected
        shapes.append(shape)

    def patient_id():
        pid = pick()["patient_id"]
        return f"/studies?PatientID={q(pid)}", count(lambda st: st["patient_id"] == pid)
    add("studies PatientID exact", False, patient_id)

    def wildcard():
        name = family(pick()).lower()
        # "*smith*": the family name, or a 4-6 letter piece from inside a long one.
        if len(name) > 6:
            k = rng.randint(4, 6)
            at = rng.randrange(0, len(name) - k + 1)
            name = name[at:at + k]
        # PN matching is case-insensitive (MiniVNA's conformance statement; Orthanc's default).
        return (f"/studies?PatientName={q('*' + name + '*')}",
                count(lambda st: name in st["patient_name"].lower()))
    add("studies PatientName *x* wildcard", False, wildcard)

    def fuzzy():
        s = pick()
        parts = s["patient_name"].split("^")
        word = rng.choice(parts[:2]).split(" ")[-1]
        plain = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
        return f"/studies?PatientName={q(plain.lower())}&fuzzymatching=true", None  # semantics are the server's
    add("studies PatientName fuzzy", False, fuzzy)

    def month():
        lo, hi = month_range(pick()["date"]).split("-")
        return f"/studies?StudyDate={lo}-{hi}", count(lambda st: lo <= st["date"] <= hi)
    add("studies StudyDate 1 month", False, month)

    def ct_range():
        y = rng.randint(2015, 2024)
        lo, hi = rng.choice(((f"{y}0101", f"{y}0630"), (f"{y}0701", f"{y}1231")))
        return (f"/studies?ModalitiesInStudy=CT&StudyDate={lo}-{hi}",
                count(lambda st: "CT" in st["modalities"] and lo <= st["date"] <= hi))
    add("studies CT + 6-month range", False, ct_range)

    def accession():
        acc = pick()["accession"]
        return f"/studies?AccessionNumber={q(acc)}", count(lambda st: st["accession"] == acc)
    add("studies AccessionNumber exact", False, accession)

    def ohif():
        s = pick()
        name = family(s).lower()
        at = rng.randrange(0, max(1, len(name) - 2))
        name = name[at:at + 3]
        pid, acc = s["patient_id"], s["accession"]
        i, j = rng.randrange(len(pid) - 1), rng.randrange(len(acc) - 1)
        pid, acc = pid[i:i + 2], acc[j:j + 2]
        word = rng.choice(s["description"].split(" ")[1:] or [s["description"]])
        modality = s["modalities"][0]
        y = int(s["date"][:4])
        lo, hi = f"{y - 1}0101", f"{y + 1}1231"
        url = ("/studies?PatientName=" + q("*" + name + "*") + "&00100020=" + q("*" + pid + "*")
               + "&AccessionNumber=" + q("*" + acc + "*") + "&StudyDescription=" + q("*" + word + "*")
               + f"&ModalitiesInStudy={modality}&StudyDate={lo}-{hi}"
               + "&limit=101&offset=0&fuzzymatching=false&includefield=00081030,00080060,00080090,00100030")
        return url, min(101, count(lambda st: name in st["patient_name"].lower() and pid in st["patient_id"]
                                   and acc in st["accession"] and word in st["description"]
                                   and modality in st["modalities"] and lo <= st["date"] <= hi))
    add("studies OHIF study list", True, ohif)

    def series():
        s = pick()
        return f"/studies/{s['uid']}/series?includefield=0008103E,00080021", len(s["series"])
    add("series of a study (+includefield)", False, series)

    def instances():
        s = pick()
        se = rng.choice(s["series"])
        return f"/studies/{s['uid']}/series/{se['uid']}/instances", se["count"]
    add("instances of a series", False, instances)

    n = len(studies)
    deep = n * 3 // 4
    for offset in (0, 5000, deep):
        url = "/studies?limit=101" + (f"&offset={offset}" if offset else "")
        add(url.lstrip("/"), True, lambda url=url, offset=offset: (url, max(0, min(101, n - offset))))
    return shapes


UID_KEY = {"studies": "0020000D", "series": "0020000E", "instances": "00080018"}


def result_uids(path: str, doc: list) -> frozenset:
    resource = path.split("?")[0].rstrip("/").split("/")[-1]
    key = UID_KEY.get(resource, "0020000D")
    out = set()
    for item in doc:
        try:
            out.add(item[key]["Value"][0])
        except (KeyError, IndexError, TypeError):
            out.add(None)
    return frozenset(out)


@dataclass
class QidoResult:
    label: str
    p50: float
    p95: float
    counts: dict  # url -> count
    uids: dict  # url -> frozenset
    results: int = 0
    bad: int = 0


def run_queries(server: Server, shapes, findings: list[Finding]) -> dict[str, QidoResult]:
    session = requests.Session()
    session.headers["Accept"] = DICOM_JSON
    out: dict[str, QidoResult] = {}
    warned: set[str] = set()
    try:
        for shape in shapes:
            label, urls = shape.label, shape.urls
            for u in urls[:5]:  # warm-up
                session.get(server.base + u, timeout=120)
            times, counts, uids = [], {}, {}
            bad = results = 0
            for u in urls:
                t0 = time.perf_counter()
                r = session.get(server.base + u, timeout=120)
                times.append((time.perf_counter() - t0) * 1000)
                if r.status_code not in (200, 204):
                    bad += 1
                    if bad <= 3:
                        findings.append(Finding(server.name, f"QIDO {label}: HTTP {r.status_code}",
                                                f"GET {u}: {r.content[:300]!r}"))
                    counts[u] = None
                    continue
                doc = r.json() if r.content.strip() else []
                counts[u] = len(doc)
                uids[u] = result_uids(u, doc)
                results += len(doc)
                warning = r.headers.get("Warning")
                if warning and "limit=" not in u and u not in warned:
                    warned.add(u)  # a Warning on a query without a limit: results cut at the server's maximum
                    findings.append(Finding(server.name, f"QIDO {label}: Warning header", f"GET {u}: {warning}"))
            times.sort()
            p95 = times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]
            out[label] = QidoResult(label, statistics.median(times), p95, counts, uids, results, bad)
    finally:
        session.close()
    return out


def count_index(server: Server) -> tuple[int, int, int]:
    """(studies, series, instances) as the server's /studies listing tells, paged by 1000."""
    session = requests.Session()
    session.headers["Accept"] = DICOM_JSON
    studies = series = instances = 0
    offset = 0
    try:
        while True:
            r = session.get(f"{server.base}/studies?limit=1000&offset={offset}", timeout=600)
            r.raise_for_status()
            page = r.json() if r.content.strip() else []
            for item in page:
                series += int((item.get("00201206", {}).get("Value") or [0])[0])
                instances += int((item.get("00201208", {}).get("Value") or [0])[0])
            studies += len(page)
            if len(page) < 1000:
                break
            offset += 1000
    finally:
        session.close()
    return studies, series, instances


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------

@dataclass
class ServerRun:
    name: str
    stow: list[StowResult] = field(default_factory=list)
    qido: dict[str, QidoResult] = field(default_factory=dict)
    counts: tuple[int, int, int] | None = None
    peak_rss: float | None = None
    storage: int | None = None
    seconds_total: float = 0.0


def bench_servers(kinds: list[str], args, root: Path, files: list[Path], studies: list[dict], shapes,
                  findings: list[Finding]) -> dict[str, ServerRun]:
    """Both servers up at once; each STOW phase runs on one server, then on the other, and who
    goes first alternates from phase to phase. So both meet the same machine: this VM's speed
    drifts by 25-50% within minutes, and ext4 without a journal skips inodes freed in the last
    1-6 minutes when it allocates new ones (a previous run's deleted data folder slows whichever
    server creates files first). Then each server's index counts and QIDO shapes, one after the
    other, and each is stopped (peak RSS read then)."""
    runs = {kind: ServerRun(kind) for kind in kinds}
    servers: dict[str, Server] = {}
    try:
        for kind in kinds:
            data = root / kind.lower()
            data.mkdir(parents=True, exist_ok=True)
            log = data.parent / f"{data.name}.log"
            if not args.queries_only:
                log.unlink(missing_ok=True)
            server = start_minivna(Path(args.minivna), data, log) if kind == "MiniVNA" else start_orthanc(data, log)
            servers[kind] = server
            print(f"{kind}: {server.base} (pid {server.proc.pid}, data {data})", flush=True)
        if not args.queries_only:
            n = len(files)
            cuts = [round(n * k / len(PHASES)) for k in range(len(PHASES) + 1)]
            for number, ((label, clients, per), a, b) in enumerate(zip(PHASES, cuts, cuts[1:])):
                for kind in (kinds if number % 2 == 0 else kinds[::-1]):
                    res = stow_phase(servers[kind], label, clients, per, files[a:b], findings)
                    runs[kind].stow.append(res)
                    cpu = f", server CPU {res.server_cpu:.1f} s" if res.server_cpu is not None else ""
                    print(f"  {kind} {label}: {res.instances} instances in {res.seconds:.1f} s = {res.rate:.0f}/s "
                          f"(stored {res.stored}, failed {res.failed}, non-200 {res.bad_status}{cpu})", flush=True)
        all_series = [se for st in studies for se in st["series"]]
        expected = (len(studies), len(all_series), sum(se["count"] for se in all_series))
        for kind in kinds:
            server, run = servers[kind], runs[kind]
            run.counts = count_index(server)
            print(f"  {kind} index: {run.counts[0]} studies, {run.counts[1]} series, {run.counts[2]} instances "
                  f"(expected {expected[0]}, {expected[1]}, {expected[2]})", flush=True)
            if run.counts != expected:
                findings.append(Finding(kind, "index counts differ from the corpus",
                                        f"studies/series/instances {run.counts} != {expected}"))
            t0 = time.perf_counter()
            run.qido = run_queries(server, shapes, findings)
            print(f"  {kind} QIDO: {sum(len(sh.urls) for sh in shapes)} requests in {time.perf_counter() - t0:.1f} s",
                  flush=True)
    finally:
        for kind, server in servers.items():
            server.stop()
            runs[kind].peak_rss = server.peak_rss
            runs[kind].storage = dir_bytes(server.data)
    if "MiniVNA" in servers:
        log = servers["MiniVNA"].log
        text = log.read_text(errors="replace")
        bad = [line for line in text.splitlines() if re.search(r"\b(error|critical|fatal)\b", line, re.I)]
        if bad:
            findings.append(Finding("MiniVNA", f"{len(bad)} error lines in the server log ({log})", "\n".join(bad[:5])))
    return runs


def file_creation_microseconds(root: Path, count: int = 300) -> float:
    """Mean cost of creating, writing and closing a small file in a new folder under root."""
    probe = Path(tempfile.mkdtemp(prefix="probe-", dir=root))
    try:
        t0 = time.perf_counter()
        for i in range(count):
            (probe / f"{i}.tmp").write_bytes(b"x" * 1024)
        return (time.perf_counter() - t0) / count * 1e6
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def fmt(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def print_report(runs: dict[str, ServerRun], shapes: list[Shape], findings: list[Finding], n: int,
                 nstudies: int) -> None:
    m, o = runs.get("MiniVNA"), runs.get("Orthanc")
    rows = [("metric", "MiniVNA", "Orthanc", "ratio", "target", "M≠O", "≠corpus M/O")]

    def ratio(a, b):
        return None if a in (None, 0) or b in (None, 0) else a / b

    def verdict(r, text):
        return "" if r is None else f"{text} {'PASS' if r >= 2 else 'MISS'}"

    if m and m.stow:
        for i, res in enumerate(m.stow):
            other = o.stow[i] if o and len(o.stow) > i else None
            r = ratio(res.rate, other.rate if other else None)
            rows.append((f"{res.label} (inst/s)", fmt(res.rate, 0), fmt(other.rate if other else None, 0),
                         fmt(r, 2), verdict(r, "≥2x"), "", ""))
        rate = lambda run: sum(x.instances for x in run.stow) / sum(x.seconds for x in run.stow)  # noqa: E731
        cpu = lambda run: (1000 * sum(x.server_cpu for x in run.stow) / sum(x.instances for x in run.stow)  # noqa: E731
                           if all(x.server_cpu is not None for x in run.stow) else None)
        total_m, total_o = rate(m), rate(o) if o and o.stow else None
        r = ratio(total_m, total_o)
        rows.append(("STOW all phases (inst/s)", fmt(total_m, 0), fmt(total_o, 0), fmt(r, 2), verdict(r, "≥2x"), "", ""))
        cpu_m, cpu_o = cpu(m), cpu(o) if o and o.stow else None
        rows.append(("STOW server CPU (ms/instance)", fmt(cpu_m, 2), fmt(cpu_o, 2), fmt(ratio(cpu_o, cpu_m), 2),
                     "", "", ""))
    for shape in shapes:
        label, urls = shape.label, list(dict.fromkeys(shape.urls))
        mq = m.qido.get(label) if m else None
        oq = o.qido.get(label) if o else None
        mismatch = ""
        if mq and oq:
            diff_count = [u for u in urls if mq.counts.get(u) != oq.counts.get(u)]
            diff_set = 0 if shape.paged else sum(1 for u in urls if mq.counts.get(u) == oq.counts.get(u)
                                                 and mq.uids.get(u) != oq.uids.get(u))
            mismatch = f"{len(diff_count)}/{len(urls)}" + (f" (+{diff_set} sets)" if diff_set else "")
            mismatch += f" [{mq.results}:{oq.results}]"
            for u in diff_count[:3]:
                findings.append(Finding("both", f"QIDO {label}: result counts differ",
                                        f"GET {u}: MiniVNA {mq.counts.get(u)}, Orthanc {oq.counts.get(u)}, "
                                        f"corpus {shape.expected.get(u)}"))
        checked = [u for u in urls if shape.expected.get(u) is not None]
        vs_corpus = []
        for name, res in (("MiniVNA", mq), ("Orthanc", oq)):
            if res is None or not checked:
                vs_corpus.append("-")
                continue
            wrong = [u for u in checked if res.counts.get(u) != shape.expected[u]]
            vs_corpus.append(str(len(wrong)))
            for u in wrong[:3]:
                findings.append(Finding(name, f"QIDO {label}: result count differs from the corpus",
                                        f"GET {u}: {res.counts.get(u)}, corpus {shape.expected[u]}"))
        corpus_col = "/".join(vs_corpus) + (f" of {len(checked)}" if checked else "")
        for pct in ("p50", "p95"):
            a = getattr(mq, pct) if mq else None
            b = getattr(oq, pct) if oq else None
            r = ratio(b, a)
            rows.append((f"QIDO {label} {pct} (ms)", fmt(a, 2), fmt(b, 2), fmt(r, 2),
                         verdict(r, "≤0.5x") if pct == "p95" else "",
                         mismatch if pct == "p50" else "", corpus_col if pct == "p50" else ""))
    rows.append(("peak RSS VmHWM (MiB)", fmt(m.peak_rss if m else None), fmt(o.peak_rss if o else None),
                 fmt(ratio(o.peak_rss if o else None, m.peak_rss if m else None), 2), "", "", ""))
    rows.append(("data folder size (MB)", fmt(m.storage / 1e6 if m and m.storage else None),
                 fmt(o.storage / 1e6 if o and o.storage else None),
                 fmt(ratio(o.storage if o else None, m.storage if m else None), 2), "", "", ""))
    if m and m.counts:
        rows.append(("index studies/series/instances", "/".join(map(str, m.counts)),
                     "/".join(map(str, o.counts)) if o and o.counts else "-", "", "", "", ""))

    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    print(f"corpus: {n} instances, {nstudies} studies. ratio > 1 = MiniVNA better (throughput MiniVNA/Orthanc,\n"
          "time Orthanc/MiniVNA). M≠O = distinct URLs with different result counts / distinct URLs\n"
          "[total results MiniVNA:Orthanc]; ≠corpus = distinct URLs whose count differs from what the corpus implies.")
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(widths[k]) if k == 0 else c.rjust(widths[k]) if k < 4 else c.ljust(widths[k])
                        for k, c in enumerate(r)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    if findings:
        print("\nfindings:")
        for f in findings:
            print(f"- [{f.server}] {f.what}: {f.detail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=20000)
    parser.add_argument("--skip-orthanc", action="store_true")
    parser.add_argument("--minivna", default=str(REPO / ".build" / "release" / "minivna"))
    parser.add_argument("--keep", action="store_true", help="keep data folders in Benchmarks/.stow-data/")
    parser.add_argument("--queries-only", action="store_true", help="reuse the folders kept by --keep")
    parser.add_argument("--runs", type=int, default=200, help="runs per QIDO shape")
    parser.add_argument("--data-root", default=None, help="folder for the temporary data folders")
    args = parser.parse_args()

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (&)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    atexit.register(cleanup_children)

    binary = Path(args.minivna)
    if not binary.exists():
        print(f"MiniVNA binary not found: {binary} (swift build -c release --product minivna)", file=sys.stderr)
        return 2
    sources = [p for p in (REPO / "Sources").rglob("*.swift") if p.stat().st_mtime > binary.stat().st_mtime]
    if sources:
        print(f"warning: {binary} is older than {len(sources)} source file(s), e.g. {sources[0].relative_to(REPO)}",
              file=sys.stderr)
    if not args.skip_orthanc and not (shutil.which("Orthanc") or Path("/usr/sbin/Orthanc").exists()):
        print("Orthanc not found (apt-get install orthanc orthanc-dicomweb) or use --skip-orthanc", file=sys.stderr)
        return 2

    studies = ensure_corpus(args.instances)
    files = corpus_files(args.instances)
    shapes = query_shapes(studies, args.runs)
    kinds = ["MiniVNA"] + ([] if args.skip_orthanc else ["Orthanc"])

    stamp_file = KEEP_DIR / "stamp.json"
    stamp = {"version": GENERATOR_VERSION, "instances": args.instances}
    temp_root: Path | None = None
    if args.queries_only:
        if not stamp_file.exists() or json.loads(stamp_file.read_text()) != stamp:
            print(f"--queries-only needs a run with --keep --instances {args.instances} first", file=sys.stderr)
            return 1
        root = KEEP_DIR
        missing = [k for k in kinds if not (root / k.lower()).exists()]
        if missing:
            print(f"--queries-only: no kept data for {', '.join(missing)} in {root}", file=sys.stderr)
            return 1
    elif args.keep:
        if KEEP_DIR.exists():
            shutil.rmtree(KEEP_DIR)
        KEEP_DIR.mkdir(parents=True)
        root = KEEP_DIR
    else:
        if args.data_root:
            Path(args.data_root).mkdir(parents=True, exist_ok=True)
        temp_root = Path(tempfile.mkdtemp(prefix="stow-qido-", dir=args.data_root))
        root = temp_root
    if not args.queries_only:
        cost = file_creation_microseconds(root)
        print(f"file creation in {root}: {cost:.0f} us per file", flush=True)
        if cost > 200:
            print(f"warning: creating a file costs {cost:.0f} us here (ext4 without a journal is still skipping "
                  "recently freed inodes): STOW rates will be low for both servers; wait a few minutes or "
                  "use --data-root elsewhere", file=sys.stderr, flush=True)

    findings: list[Finding] = []
    runs: dict[str, ServerRun] = {}
    try:
        runs = bench_servers(kinds, args, root, files, studies, shapes, findings)
        if args.keep and not args.queries_only:
            stamp_file.write_text(json.dumps(stamp))
    finally:
        cleanup_children()
        if temp_root is not None:
            shutil.rmtree(temp_root, ignore_errors=True)
    print_report(runs, shapes, findings, args.instances, len(studies))
    if args.queries_only:
        print("\n(--queries-only: no STOW this run; peak RSS covers the queries only)")
    if args.keep or args.queries_only:
        print(f"data kept in {KEEP_DIR}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        cleanup_children()
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001
        cleanup_children()
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
