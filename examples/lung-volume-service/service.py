#!/usr/bin/env python3
"""Example external inference service for MiniVNA: lung volumes from a chest CT.

MiniVNA sends a job (POST /jobs, JSON); this service reads the named series back from
MiniVNA's DICOMweb API with dicomweb-client, segments the lungs of the CT series, and answers
with measurement groups (right, left and total lung volume in mL) and, optionally, a DICOM
Segmentation (SEG) instance encoded in base64.

IMPORTANT: this is NOT an AI model and loads no model weights. It is a short classical image
processing pipeline (HU thresholds, connected components, hole filling) that stands in for a
trained model so the whole "archive -> inference -> results back into the archive" loop can be
exercised and tested without GPUs, downloads or patient data. Its output has the shape a real
model's adapter would produce; its accuracy is only that of a threshold method (good on clean
inspiratory chest CT and on the test phantom, not a clinical tool).

Run:  python3 service.py --host 127.0.0.1 --port 8090 [--async] [--no-seg] [--fail-mode MODE]

Only the standard library's http.server is used for HTTP; numpy/scipy do the image
processing; pydicom/highdicom/dicomweb-client handle DICOM.
"""
import argparse
import base64
import hashlib
import io
import json
import math
import os
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from scipy import ndimage

# DICOM libraries are imported lazily-but-early so that a missing one is reported with a
# clear message instead of a traceback in the middle of a job.
try:
    import pydicom
    from pydicom.sr.coding import Code
    import highdicom as hd
    from dicomweb_client.api import DICOMwebClient
except ImportError as exc:  # pragma: no cover - exercised only on a machine without deps
    sys.stderr.write(f"lung-volume-service: missing dependency: {exc}. "
                     f"pip install -r requirements.txt\n")
    raise

# --- constants -----------------------------------------------------------------------------

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"

ALGORITHM_NAME = "HU-threshold lung segmentation"
ALGORITHM_VERSION = "1.0"
ALGORITHM_DESCRIPTION = (
    "Classical HU-threshold lung segmentation, not a trained model (no weights): body = "
    "largest 3-D component above -500 HU with holes filled per axial slice; air-like voxels "
    "(below -320 HU) inside the body; components touching the in-plane image border dropped; "
    "the two largest 3-D connected components above the minimum lung volume kept (split by "
    "erosion when joined); holes (vessels) filled per slice; left/right from the patient-x "
    "centroid (DICOM LPS, +x = patient's left); volume = voxels x voxel size.")
MANUFACTURER = "MiniVNA examples"

# Thresholds in Hounsfield units. Lung parenchyma is about -900..-500 HU, soft tissue about
# 0..100 HU: -500 separates the body from the surrounding air, -320 keeps the lung (incl.
# its partial-volume rim) and excludes soft tissue.
BODY_THRESHOLD_HU = -500.0
AIR_THRESHOLD_HU = -320.0
DEFAULT_MIN_LUNG_ML = 100.0
MIN_SLICES = 3

# Codes (SNOMED CT) used in the measurement groups and the SEG.
SCT_LUNG = {"scheme": "SCT", "code": "39607008", "meaning": "Lung structure"}
SCT_RIGHT_LUNG = {"scheme": "SCT", "code": "3341006", "meaning": "Right lung"}
SCT_LEFT_LUNG = {"scheme": "SCT", "code": "44029006", "meaning": "Left lung"}
SCT_VOLUME = {"scheme": "SCT", "code": "118565006", "meaning": "Volume"}
UNIT_ML = {"code": "ml", "meaning": "milliliter"}
SCT_ANATOMICAL_STRUCTURE = Code("91723000", "SCT", "Anatomical Structure")

FAIL_MODES = ("none", "down-after-start", "slow", "garbage", "500")
MAX_BODY_BYTES = 1 << 20


def log(message):
    """One line to stderr, timestamped; stdout is reserved for the 'listening on' line."""
    sys.stderr.write(time.strftime("%Y-%m-%dT%H:%M:%S ") + message + "\n")
    sys.stderr.flush()


class BadRequest(Exception):
    """The job body is malformed: answered 400."""


class JobError(Exception):
    """The job is well formed but cannot be processed (no CT, no lungs...): answered 422 or
    posted to the callback as {"jobId", "error"}."""


# --- deterministic UIDs ----------------------------------------------------------------------

def derived_uid(seed):
    """A UID under the 2.25 (UUID-derived) root computed from seed.

    highdicom.UID() is random; deriving the SEG's UIDs from the job id instead means that
    replaying a job produces the same series and SOP instance, which the archive stores
    idempotently rather than as a second, conflicting copy. 120 bits of SHA-256 keep the UID
    at most 42 characters (the limit is 64)."""
    return "2.25." + str(int(hashlib.sha256(seed.encode("utf-8")).hexdigest()[:30], 16))


# --- reading the series ------------------------------------------------------------------------

def _tag_value(item, tag):
    """First value of a tag in a DICOM JSON object (what QIDO/metadata return), or None."""
    element = item.get(tag) or {}
    values = element.get("Value") or []
    return values[0] if values else None


def _client(base_url, token):
    headers = {"Authorization": "Bearer " + token} if token else None
    return DICOMwebClient(url=base_url, headers=headers, timeout=60)


def _series_summary(client, study_uid, series_uid):
    """(modality, number of instances, is_localizer) from the series' WADO-RS metadata.

    Reading the metadata first avoids downloading the pixels of series that will be skipped
    anyway (MR, SR, scouts...). Returns None when the metadata cannot be read, in which case
    the caller falls back to retrieving the series and looking at the instances."""
    try:
        metadata = client.retrieve_series_metadata(study_uid, series_uid)
    except Exception as exc:  # noqa: BLE001 - any transport/HTTP failure means "unknown"
        log(f"metadata of series {series_uid} unavailable ({exc}); will retrieve it")
        return None
    modalities = {_tag_value(m, "00080060") for m in metadata}
    image_types = set()
    for m in metadata:
        image_types.update((m.get("00080008") or {}).get("Value") or [])
    modality = "CT" if modalities == {"CT"} else "/".join(sorted(str(x) for x in modalities))
    return modality, len(metadata), "LOCALIZER" in image_types


def _retrieve_series(client, study_uid, series_uid):
    """All instances of a series as pydicom datasets.

    First asks for the default transfer syntax (uncompressed Explicit VR Little Endian, which
    pydicom decodes without extra codecs); if the archive cannot transcode (406), accepts any
    transfer syntax and leaves decoding to pydicom's installed handlers."""
    try:
        return client.retrieve_series(study_uid, series_uid)
    except Exception as exc:  # noqa: BLE001
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status != 406:
            raise
    return client.retrieve_series(study_uid, series_uid, media_types=(("application/dicom", "*"),))


def _float_list(value, count):
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return out if len(out) == count else None


class Volume:
    """A CT series as a 3-D HU array (slice, row, col) with its patient geometry.

    Slices are sorted along the slice normal (row x column direction cosines) using
    ImagePositionPatient, which, unlike InstanceNumber, is guaranteed to describe where a
    slice is. The slice spacing comes from the positions (SliceThickness is the reconstructed
    thickness and may differ from the spacing for overlapping reconstructions) and falls back
    to SpacingBetweenSlices / SliceThickness when positions are missing."""

    def __init__(self, datasets):
        if len(datasets) < MIN_SLICES:
            raise JobError(f"series has {len(datasets)} slice(s), at least {MIN_SLICES} needed")
        first = datasets[0]
        rows, cols = int(first.Rows), int(first.Columns)
        iop = _float_list(getattr(first, "ImageOrientationPatient", None), 6) or [1, 0, 0, 0, 1, 0]
        spacing = _float_list(getattr(first, "PixelSpacing", None), 2)
        if not spacing or min(spacing) <= 0:
            raise JobError("series has no usable PixelSpacing")
        for ds in datasets:
            if (int(ds.Rows), int(ds.Columns)) != (rows, cols):
                raise JobError("slices of different sizes in one series")
            if int(getattr(ds, "NumberOfFrames", 1) or 1) != 1:
                raise JobError("multi-frame CT is not supported by this example")
            other = _float_list(getattr(ds, "ImageOrientationPatient", None), 6) or iop
            if max(abs(a - b) for a, b in zip(other, iop)) > 1e-3:
                raise JobError("slices of different orientations in one series")
        self.row_cosines = np.array(iop[:3])
        self.col_cosines = np.array(iop[3:])
        normal = np.cross(self.row_cosines, self.col_cosines)
        self.row_spacing, self.col_spacing = spacing  # between rows, between columns (mm)

        positions = [_float_list(getattr(ds, "ImagePositionPatient", None), 3) for ds in datasets]
        if all(p is not None for p in positions):
            order = sorted(range(len(datasets)), key=lambda i: float(np.dot(positions[i], normal)))
            self.datasets = [datasets[i] for i in order]
            self.positions = np.array([positions[i] for i in order])
            distances = self.positions @ normal
            steps = np.diff(distances)
            if np.any(steps < 1e-3):
                raise JobError("two slices share one position (duplicate or mixed stacks)")
            self.slice_spacing = float(np.median(steps))
        else:
            order = sorted(range(len(datasets)), key=lambda i: int(getattr(datasets[i], "InstanceNumber", 0) or 0))
            self.datasets = [datasets[i] for i in order]
            thickness = getattr(first, "SpacingBetweenSlices", None) or getattr(first, "SliceThickness", None)
            try:
                self.slice_spacing = float(thickness)
            except (TypeError, ValueError):
                raise JobError("no ImagePositionPatient and no SliceThickness: slice spacing unknown")
            # Without positions, build a stack along the normal from the origin.
            self.positions = np.outer(np.arange(len(datasets)) * self.slice_spacing, normal)

        planes = []
        for ds in self.datasets:
            try:
                pixels = ds.pixel_array.astype(np.float32)
            except Exception as exc:  # noqa: BLE001 - missing codec, truncated data...
                raise JobError(f"cannot decode pixel data of {ds.SOPInstanceUID}: {exc}")
            slope = float(getattr(ds, "RescaleSlope", 1) or 1)
            intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
            planes.append(pixels * slope + intercept)
        self.hu = np.stack(planes)

    @property
    def voxel_ml(self):
        return self.row_spacing * self.col_spacing * self.slice_spacing / 1000.0

    @property
    def sampling(self):
        """Voxel size (mm) along the array axes, for anisotropic distance transforms."""
        return (self.slice_spacing, self.row_spacing, self.col_spacing)

    def patient_x(self, mask):
        """Mean patient x (mm, LPS) of the voxels in mask.

        x of voxel (k, r, c) = position_k.x + c * col_spacing * row_cos.x + r * row_spacing *
        col_cos.x (a step along a row moves by the row direction cosines, PS3.3 C.7.6.2.1.1)."""
        k, r, c = np.nonzero(mask)
        return float(self.positions[k, 0].mean()
                     + c.mean() * self.col_spacing * self.row_cosines[0]
                     + r.mean() * self.row_spacing * self.col_cosines[0])


# --- segmentation --------------------------------------------------------------------------------

def _largest_component(mask):
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _fill_holes_per_slice(mask):
    """binary_fill_holes on each axial slice.

    Per slice and not in 3-D because the structures to fill (lungs inside the chest wall,
    vessels inside a lung) are enclosed in every axial plane but usually open at the top or
    bottom of the scanned range, where a 3-D fill would leave them empty."""
    out = np.empty_like(mask)
    for k in range(mask.shape[0]):
        out[k] = ndimage.binary_fill_holes(mask[k])
    return out


def _split_joined_lungs(mask, min_voxels, sampling, max_erosions=12):
    """Split one air component into two lungs when they touch (anterior junction, or a
    trachea/bronchi connected to both).

    Erode until the component falls apart into two sizeable parts, then give every voxel of
    the original mask to the nearest of the two cores (Euclidean, in mm). Returns a label
    array with values 1 and 2, or None when no split is found."""
    eroded = mask.copy()
    for _ in range(max_erosions):
        eroded = ndimage.binary_erosion(eroded)
        labels, count = ndimage.label(eroded)
        if count < 2:
            if count == 0:
                return None
            continue
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        first, second = np.argsort(sizes)[::-1][:2]
        # Both cores must be a real part of a lung, not a bronchus tip shaved off the side.
        if sizes[second] < max(min_voxels // 8, 1):
            continue
        cores = np.zeros(mask.shape, dtype=np.uint8)
        cores[labels == first] = 1
        cores[labels == second] = 2
        indices = ndimage.distance_transform_edt(cores == 0, sampling=sampling,
                                                 return_distances=False, return_indices=True)
        nearest = cores[tuple(indices)]
        return np.where(mask, nearest, 0).astype(np.uint8)
    return None


def segment_lungs(volume, min_lung_ml=DEFAULT_MIN_LUNG_ML):
    """Right and left lung masks of a Volume: returns (right_mask, left_mask).

    Steps (and why):
    1. body: voxels above -500 HU, largest 3-D component (drops the table, clothing, noise),
       holes filled per slice so that the lungs become part of it;
    2. candidates: air-like voxels (below -320 HU) inside the body;
    3. components touching the in-plane border are outside air that leaked in where the body
       touches the edge of the field of view: dropped. The top and bottom slices are not a
       border here, since lungs routinely extend past the scanned range;
    4. keep the two largest 3-D components (6-connectivity) of at least min_lung_ml; if
       only one is that large, the lungs touch and are split by erosion;
    5. fill holes per slice within each lung, so intrapulmonary vessels count as lung, as in
       clinical lung volumes;
    6. the component with the larger patient-x centroid is the left lung (LPS).
    Raises JobError when no two lungs are found."""
    hu = volume.hu
    body = _largest_component(hu > BODY_THRESHOLD_HU)
    if not body.any():
        raise JobError("no body found (no voxel above -500 HU)")
    body = _fill_holes_per_slice(body)
    air = (hu < AIR_THRESHOLD_HU) & body

    labels, count = ndimage.label(air)
    if count == 0:
        raise JobError("no lungs found: no air-like region inside the body")
    border = np.unique(np.concatenate([labels[:, 0, :].ravel(), labels[:, -1, :].ravel(),
                                       labels[:, :, 0].ravel(), labels[:, :, -1].ravel()]))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    sizes[border] = 0
    min_voxels = int(math.ceil(min_lung_ml / volume.voxel_ml))
    big = [int(i) for i in np.argsort(sizes)[::-1] if sizes[i] >= min_voxels]

    if len(big) >= 2:
        lungs = [labels == big[0], labels == big[1]]
    elif len(big) == 1:
        split = _split_joined_lungs(labels == big[0], min_voxels, volume.sampling)
        if split is None:
            raise JobError(f"only one lung-sized air region found "
                           f"({sizes[big[0]] * volume.voxel_ml:.0f} mL), and it could not be "
                           f"split into left and right lungs")
        lungs = [split == 1, split == 2]
    else:
        largest = int(sizes.max()) * volume.voxel_ml
        raise JobError(f"no lungs found: no air region inside the body reaches "
                       f"{min_lung_ml:g} mL (largest {largest:.1f} mL)")

    lungs = [_fill_holes_per_slice(m) for m in lungs]
    lungs.sort(key=volume.patient_x)  # smaller x = patient's right
    return lungs[0], lungs[1]


# --- results -----------------------------------------------------------------------------------

def _measurement_group(tracking_id, site, volume_ml, references):
    return {
        "trackingIdentifier": tracking_id,
        "finding": dict(SCT_LUNG),
        "findingSite": dict(site),
        "priority": "routine",
        "references": references,
        "measurements": [{"concept": dict(SCT_VOLUME), "value": round(volume_ml, 2),
                          "unit": dict(UNIT_ML)}],
        "qualitative": [],
    }


def _deterministic_timestamps(source):
    """(date, time) for the SEG's creation attributes, taken from the source series.

    highdicom stamps the wall clock, which would make a replayed job produce different bytes
    under the same SOP Instance UID; the archive would then reject the replay as a conflicting
    duplicate. Using the source's series (or study) date and time keeps a replay
    byte-identical."""
    date = getattr(source, "SeriesDate", None) or getattr(source, "StudyDate", None) or "19700101"
    tm = getattr(source, "SeriesTime", None) or getattr(source, "StudyTime", None) or "000000"
    return str(date), str(tm)


def build_seg(volume, right, left, job_id, model_name, model_version):
    """A BINARY DICOM Segmentation (Part-10 bytes) with segments 1 = right, 2 = left lung.

    Same study and frame of reference as the source (highdicom copies them from the source
    images); series/SOP/tracking/dimension-organization UIDs derived from the job id."""
    algorithm = hd.AlgorithmIdentificationSequence(
        name=ALGORITHM_NAME,
        version=ALGORITHM_VERSION,
        family=Code("123104", "DCM", "Morphological Operations"),
        source=MANUFACTURER,
    )
    descriptions = []
    for number, (label, site) in enumerate((("Right lung", SCT_RIGHT_LUNG),
                                            ("Left lung", SCT_LEFT_LUNG)), start=1):
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=label,
            segmented_property_category=SCT_ANATOMICAL_STRUCTURE,
            segmented_property_type=Code(site["code"], site["scheme"], site["meaning"]),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_uid=derived_uid(f"{job_id}/segment/{number}"),
            tracking_id=label,
        ))
    labelmap = np.zeros(volume.hu.shape, dtype=np.uint8)
    labelmap[right] = 1
    labelmap[left] = 2
    seg = hd.seg.Segmentation(
        source_images=volume.datasets,
        pixel_array=labelmap,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=derived_uid(f"{job_id}/seg-series"),
        series_number=901,
        sop_instance_uid=derived_uid(f"{job_id}/seg-instance"),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=(model_name or "lung-volume")[:64],
        software_versions=(model_version or ALGORITHM_VERSION)[:64],
        device_serial_number="lung-volume-service",
        content_label="LUNGS",
        content_description="Lung segmentation (classical HU threshold, not a trained model)",
        series_description="Lung segmentation",
    )
    date, tm = _deterministic_timestamps(volume.datasets[0])
    for keyword in ("ContentDate", "SeriesDate", "InstanceCreationDate"):
        setattr(seg, keyword, date)
    for keyword in ("ContentTime", "SeriesTime", "InstanceCreationTime"):
        setattr(seg, keyword, tm)
    # highdicom lists itself as contributing equipment, stamped with the wall clock.
    for item in getattr(seg, "ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = date + tm
    # The dimension organization UID is random in highdicom; it only has to be unique to this
    # object and consistent between its two sequences.
    dim_uid = derived_uid(f"{job_id}/seg-dimension-organization")
    for item in getattr(seg, "DimensionOrganizationSequence", []):
        item.DimensionOrganizationUID = dim_uid
    for item in getattr(seg, "DimensionIndexSequence", []):
        if "DimensionOrganizationUID" in item:
            item.DimensionOrganizationUID = dim_uid
    buf = io.BytesIO()
    seg.save_as(buf)
    return buf.getvalue()


def run_job(job, config):
    """Process a validated job; returns the result JSON (dict) or raises JobError."""
    job_id = job["jobId"]
    study_uid = job["studyInstanceUID"]
    model = job.get("model") or {}
    client = _client(job["dicomwebBaseURL"], job.get("accessToken"))

    series_uids = list(job.get("seriesInstanceUIDs") or [])
    if not series_uids:
        # No series named: consider every series of the study (QIDO-RS).
        try:
            found = client.search_for_series(study_uid)
        except Exception as exc:  # noqa: BLE001
            raise JobError(f"cannot list the series of study {study_uid}: {exc}")
        series_uids = [_tag_value(s, "0020000E") for s in found if _tag_value(s, "0020000E")]
    if not series_uids:
        raise JobError(f"study {study_uid} has no series")

    # Rank the series: CT first by slice count; unknown (metadata unavailable) after them.
    candidates, skipped = [], []
    for uid in series_uids:
        summary = _series_summary(client, study_uid, uid)
        if summary is None:
            candidates.append((0, uid))
            continue
        modality, count, localizer = summary
        if modality != "CT":
            skipped.append(f"{uid}: modality {modality or 'unknown'}")
        elif localizer:
            skipped.append(f"{uid}: localizer")
        elif count < MIN_SLICES:
            skipped.append(f"{uid}: {count} slice(s)")
        else:
            candidates.append((count, uid))
    if not candidates:
        raise JobError("no CT series with at least 3 slices (" + "; ".join(skipped) + ")")
    candidates.sort(key=lambda c: -c[0])

    failures = []
    for _, series_uid in candidates:
        try:
            datasets = _retrieve_series(client, study_uid, series_uid)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{series_uid}: cannot retrieve ({exc})")
            continue
        datasets = [d for d in datasets if str(getattr(d, "Modality", "")) == "CT"
                    and getattr(d, "PixelData", None) is not None]
        try:
            volume = Volume(datasets)
            right, left = segment_lungs(volume, config.min_lung_ml)
        except JobError as exc:
            failures.append(f"{series_uid}: {exc}")
            continue
        return _result(job, model, volume, series_uid, right, left, config)
    raise JobError("; ".join(failures))


def _result(job, model, volume, series_uid, right, left, config):
    references = [{"seriesInstanceUID": series_uid,
                   "sopInstanceUID": str(ds.SOPInstanceUID),
                   "sopClassUID": str(ds.SOPClassUID)} for ds in volume.datasets]
    right_ml = float(right.sum()) * volume.voxel_ml
    left_ml = float(left.sum()) * volume.voxel_ml
    result = {
        "jobId": job["jobId"],
        "model": {"name": model.get("name") or "lung-volume",
                  "version": model.get("version") or ALGORITHM_VERSION,
                  "manufacturer": MANUFACTURER},
        "algorithm": {"name": ALGORITHM_NAME, "version": ALGORITHM_VERSION,
                      "description": ALGORITHM_DESCRIPTION},
        "groups": [
            _measurement_group("Right lung", SCT_RIGHT_LUNG, right_ml, references),
            _measurement_group("Left lung", SCT_LEFT_LUNG, left_ml, [dict(r) for r in references]),
            _measurement_group("Lungs", SCT_LUNG, right_ml + left_ml, [dict(r) for r in references]),
        ],
    }
    want_seg = job.get("returnInstances")
    if not isinstance(want_seg, bool):
        want_seg = config.seg
    if want_seg:
        seg = build_seg(volume, right, left, job["jobId"], model.get("name"), model.get("version"))
        result["instances"] = [base64.b64encode(seg).decode("ascii")]
    return result


def validate_job(body):
    """Parse and check the job JSON; returns the dict or raises BadRequest."""
    try:
        job = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"body is not JSON: {exc}")
    if not isinstance(job, dict):
        raise BadRequest("body must be a JSON object")
    for key in ("jobId", "studyInstanceUID", "dicomwebBaseURL"):
        if not isinstance(job.get(key), str) or not job[key].strip():
            raise BadRequest(f"{key} must be a non-empty string")
    series = job.get("seriesInstanceUIDs", [])
    if series is None:
        series = []
    if not isinstance(series, list) or not all(isinstance(s, str) and s for s in series):
        raise BadRequest("seriesInstanceUIDs must be a list of strings")
    job["seriesInstanceUIDs"] = series
    for key in ("callbackURL", "accessToken"):
        if job.get(key) is not None and not isinstance(job[key], str):
            raise BadRequest(f"{key} must be a string or null")
    if job.get("model") is not None and not isinstance(job["model"], dict):
        raise BadRequest("model must be an object")
    if not job["dicomwebBaseURL"].startswith(("http://", "https://")):
        raise BadRequest("dicomwebBaseURL must be an http(s) URL")
    return job


# --- asynchronous delivery -------------------------------------------------------------------

def post_callback(url, token, payload, attempts=3):
    """POST payload (JSON) to the callback URL; a few retries with backoff, since the
    receiver may be briefly busy. Returns the HTTP status, or None when it never answered."""
    data = json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return exc.code  # the receiver refused it: retrying will not help
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.5 * (2 ** attempt))
    log(f"callback {url} failed after {attempts} attempts: {last}")
    return None


def run_async(job, config):
    """Compute the job in this (background) thread and deliver it to callbackURL."""
    started = time.monotonic()
    try:
        payload, outcome = run_job(job, config), "ok"
    except JobError as exc:
        payload, outcome = {"jobId": job["jobId"], "error": str(exc)}, f"error: {exc}"
    except Exception as exc:  # noqa: BLE001 - a bug must still reach the caller as an error
        traceback.print_exc()
        payload, outcome = {"jobId": job["jobId"], "error": f"internal error: {exc}"}, "internal error"
    status = post_callback(job["callbackURL"], job.get("accessToken"), payload)
    log(f"job {job['jobId']} async {outcome}; callback -> {status}; "
        f"{time.monotonic() - started:.2f} s{_volumes_note(payload)}")


def _volumes_note(payload):
    groups = payload.get("groups") if isinstance(payload, dict) else None
    if not groups:
        return ""
    return "; " + ", ".join(f"{g['trackingIdentifier']} {g['measurements'][0]['value']} mL" for g in groups)


# --- HTTP --------------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    """POST /jobs (or /) runs a job, GET /health answers ok. self.server.config holds the
    command-line options."""

    server_version = "lung-volume-service/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by http.server
        """Silenced: one line per job is logged instead of one per request."""

    def _send(self, status, payload=None, raw=None, content_type="application/json"):
        body = raw if raw is not None else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": f"no such resource: {self.path}"})

    def _read_body(self):
        length = self.headers.get("Content-Length")
        if length is None:
            raise BadRequest("Content-Length is required")
        try:
            length = int(length)
        except ValueError:
            raise BadRequest("bad Content-Length")
        if length < 0 or length > MAX_BODY_BYTES:
            # Answer without reading: the connection cannot be reused.
            self.close_connection = True
            raise BadRequest(f"body must be between 0 and {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length)

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        if path not in ("/", "/jobs", "/jobs/"):
            self._send(404, {"error": f"no such resource: {self.path}"})
            return
        config = self.server.config
        started = time.monotonic()
        try:
            body = self._read_body()
        except BadRequest as exc:
            self._send(400, {"jobId": None, "error": str(exc)})
            return
        if self._inject_fault(config, body):
            return
        try:
            job = validate_job(body)
            if config.async_mode and not job.get("callbackURL"):
                raise BadRequest("callbackURL is required: this service runs jobs asynchronously")
        except BadRequest as exc:
            self._send(400, {"jobId": _lenient_job_id(body), "error": str(exc)})
            log(f"job {_lenient_job_id(body)} rejected (400): {exc}")
            return

        if config.async_mode:
            threading.Thread(target=self._async_job, args=(job, config), daemon=True).start()
            self._send(202, {"jobId": job["jobId"]})
            return

        with config.slots:
            try:
                result = run_job(job, config)
            except JobError as exc:
                self._send(422, {"jobId": job["jobId"], "error": str(exc)})
                log(f"job {job['jobId']} failed (422) after {time.monotonic() - started:.2f} s: {exc}")
                return
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                self._send(500, {"jobId": job["jobId"], "error": f"internal error: {exc}"})
                log(f"job {job['jobId']} internal error (500): {exc}")
                return
        self._send(200, result)
        log(f"job {job['jobId']} ok (200) in {time.monotonic() - started:.2f} s{_volumes_note(result)}")

    @staticmethod
    def _async_job(job, config):
        with config.slots:
            run_async(job, config)

    def _inject_fault(self, config, body):
        """The --fail-mode behaviours MiniVNA's tests use to check their error handling.
        Returns True when the request has been answered here."""
        mode = config.fail_mode
        job_id = _lenient_job_id(body)
        if mode == "slow":
            log(f"job {job_id}: fail-mode slow, sleeping 30 s")
            time.sleep(30)
            return False
        if mode == "garbage":
            self._send(200, raw=b"not json{")
            log(f"job {job_id}: fail-mode garbage, answered 200 'not json{{'")
            return True
        if mode == "500":
            self._send(500, {"jobId": job_id, "error": "injected failure (--fail-mode 500)"})
            log(f"job {job_id}: fail-mode 500")
            return True
        return False


def _lenient_job_id(body):
    """The jobId of a body that may be invalid, for error answers; None when unreadable."""
    try:
        job = json.loads(body.decode("utf-8"))
        value = job.get("jobId") if isinstance(job, dict) else None
        return value if isinstance(value, str) else None
    except (UnicodeDecodeError, ValueError, AttributeError):
        return None


class Config:
    """Options shared by the request handlers."""

    def __init__(self, args):
        self.async_mode = args.async_mode
        self.seg = args.seg
        self.fail_mode = args.fail_mode
        self.min_lung_ml = args.min_lung_ml
        # Each job holds a few copies of a CT volume in memory: bound how many run at once.
        self.slots = threading.BoundedSemaphore(max(1, args.max_concurrent_jobs))


def parse_args(argv=None):
    env_seg = os.environ.get("LUNG_SERVICE_SEG", "1").strip().lower() not in ("0", "false", "no", "off")
    parser = argparse.ArgumentParser(description="Example MiniVNA inference service: lung volumes "
                                                 "from chest CT by classical HU thresholds (no AI model).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    parser.add_argument("--async", dest="async_mode", action="store_true",
                        help="answer 202 at once and POST the result to callbackURL")
    seg = parser.add_mutually_exclusive_group()
    seg.add_argument("--seg", dest="seg", action="store_true", default=env_seg,
                     help="return the DICOM SEG in 'instances' (default; env LUNG_SERVICE_SEG=0 turns it off)")
    seg.add_argument("--no-seg", dest="seg", action="store_false", help="do not return the SEG")
    parser.add_argument("--fail-mode", choices=FAIL_MODES, default="none",
                        help="fault injection for tests: down-after-start (print the listening line, "
                             "then refuse connections), slow (30 s before answering a job), garbage "
                             "(200 with a non-JSON body), 500")
    parser.add_argument("--min-lung-ml", type=float, default=DEFAULT_MIN_LUNG_ML,
                        help="smallest air region counted as a lung (mL)")
    parser.add_argument("--max-concurrent-jobs", type=int, default=2)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.config = Config(args)
    host, port = server.server_address[:2]
    if args.fail_mode == "down-after-start":
        # Looks started to whoever launched it (the line is printed, the process stays up),
        # but nothing answers: connections are refused. The socket is closed before the line
        # is printed so that no client can slip into the listen backlog in between.
        server.server_close()
        print(f"listening on http://{host}:{port}", flush=True)
        log("fail-mode down-after-start: listening socket closed, connections will be refused")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        return
    print(f"listening on http://{host}:{port}", flush=True)
    log(f"lung-volume-service: async={args.async_mode} seg={args.seg} fail-mode={args.fail_mode}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
