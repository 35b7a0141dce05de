"""A synthetic chest CT, built with pydicom, whose lung volumes are known in advance.

Why a phantom: the example lung-volume service (examples/lung-volume-service) must be tested
end to end through a real MiniVNA without shipping patient data. A mathematically defined
chest lets the test compare the service's volumes with an exact expectation.

Geometry (DICOM patient coordinates, LPS: +x is the patient's left, +y posterior, +z head):

* air (-1000 HU) fills the field of view;
* the body is an elliptic cylinder of soft tissue (40 HU) through every slice, with a
  vertebra (500 HU) at the back;
* two ellipsoidal lungs (-850 HU) sit left and right of a soft-tissue mediastinum. The right
  lung (patient's right, so smaller x) is the larger one, as in real anatomy;
* each lung holds a few "vessels" (soft-tissue rods along z, kept well inside the lung) so
  that a segmentation which leaves holes where vessels are would come out too small: clinical
  lung volumes include the intrapulmonary vessels;
* Gaussian noise (sigma 12 HU) from a fixed seed, so every build is bit-identical.

The expected volume of a lung is the count of voxels whose centre lies inside its ellipsoid
(vessels included) times the voxel volume: that is what an exact segmentation of this
sampled volume measures. The continuous ellipsoid volume (4/3 pi abc) is returned as well;
the two differ by the sampling error of 5 mm slices (about 1 %).
"""
import io
import math

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"

# HU values of the materials.
AIR_HU = -1000
SOFT_TISSUE_HU = 40
LUNG_HU = -850
BONE_HU = 500
NOISE_SIGMA_HU = 12.0
NOISE_SEED = 20240611

RESCALE_INTERCEPT = -1024  # stored value = HU + 1024, unsigned 12 bits in 16

# Shapes in millimetres, patient coordinates, relative to the volume's centre.
BODY_SEMI_AXES = (140.0, 100.0)           # x, y of the elliptic cylinder
VERTEBRA = ((0.0, 78.0), 15.0)            # centre (x, y), radius
LUNGS = {
    # name: (centre x, y, z), (semi-axis x, y, z)
    "right": ((-62.0, 0.0, 0.0), (46.0, 66.0, 82.0)),
    "left": ((60.0, 0.0, 0.0), (40.0, 62.0, 76.0)),
}
# Vessel rods along z, as offsets (mm) from the lung centre, and their radius.
VESSEL_OFFSETS = ((-12.0, -15.0), (10.0, 12.0), (0.0, 30.0))
VESSEL_RADIUS = 4.0
VESSEL_INNER_FRACTION = 0.7  # rods exist only inside the lung ellipsoid shrunk to 70 %


def _grid(slices, size, pixel_spacing, slice_thickness):
    """Patient coordinates of the voxel centres: x (cols), y (rows), z per slice.

    The field of view is centred on x = y = 0 and the slab on z = 0, which keeps the
    shapes above meaningful for any size/spacing that fits them."""
    half = (size - 1) / 2.0
    xs = (np.arange(size) - half) * pixel_spacing
    ys = (np.arange(size) - half) * pixel_spacing
    # Slice 0 is the most superior one (largest z), as scanners number a head-first chest.
    zs = ((slices - 1) / 2.0 - np.arange(slices)) * slice_thickness
    return xs, ys, zs


def _lung_masks(slices, size, pixel_spacing, slice_thickness):
    """Boolean (slice, row, col) masks of each lung and of its vessels."""
    xs, ys, zs = _grid(slices, size, pixel_spacing, slice_thickness)
    z, y, x = np.meshgrid(zs, ys, xs, indexing="ij")
    lungs, vessels = {}, {}
    for name, ((cx, cy, cz), (ax, ay, az)) in LUNGS.items():
        r2 = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 + ((z - cz) / az) ** 2
        lungs[name] = r2 <= 1.0
        inner = r2 <= VESSEL_INNER_FRACTION ** 2
        rods = np.zeros_like(inner)
        for dx, dy in VESSEL_OFFSETS:
            rods |= (x - cx - dx) ** 2 + (y - cy - dy) ** 2 <= VESSEL_RADIUS ** 2
        vessels[name] = rods & inner
    return lungs, vessels


def phantom_hu(slices=40, size=128, pixel_spacing=2.5, slice_thickness=5.0):
    """The noiseless and noisy HU volumes, shape (slices, rows, cols), float32."""
    xs, ys, zs = _grid(slices, size, pixel_spacing, slice_thickness)
    y2, x2 = np.meshgrid(ys, xs, indexing="ij")
    bx, by = BODY_SEMI_AXES
    body = (x2 / bx) ** 2 + (y2 / by) ** 2 <= 1.0
    (vx, vy), vr = VERTEBRA
    bone = (x2 - vx) ** 2 + (y2 - vy) ** 2 <= vr ** 2

    plane = np.full((size, size), AIR_HU, dtype=np.float32)
    plane[body] = SOFT_TISSUE_HU
    plane[bone & body] = BONE_HU
    volume = np.repeat(plane[None, :, :], slices, axis=0)

    lungs, vessels = _lung_masks(slices, size, pixel_spacing, slice_thickness)
    for name in LUNGS:
        volume[lungs[name]] = LUNG_HU
        volume[vessels[name]] = SOFT_TISSUE_HU
    rng = np.random.default_rng(NOISE_SEED)
    noisy = volume + rng.normal(0.0, NOISE_SIGMA_HU, volume.shape).astype(np.float32)
    return volume, noisy


def expected_volumes_ml(slices=40, size=128, pixel_spacing=2.5, slice_thickness=5.0):
    """Expected lung volumes for make_chest_ct called with the same geometry.

    Returns {"right": mL, "left": mL, "total": mL} from voxel counts (what an exact
    segmentation measures, vessels included) and, under "analytic", the continuous
    ellipsoid volumes 4/3*pi*a*b*c."""
    lungs, _ = _lung_masks(slices, size, pixel_spacing, slice_thickness)
    voxel_ml = pixel_spacing * pixel_spacing * slice_thickness / 1000.0
    out = {name: float(mask.sum()) * voxel_ml for name, mask in lungs.items()}
    out["total"] = out["right"] + out["left"]
    analytic = {name: 4.0 / 3.0 * math.pi * ax * ay * az / 1000.0
                for name, (_, (ax, ay, az)) in LUNGS.items()}
    analytic["total"] = analytic["right"] + analytic["left"]
    out["analytic"] = analytic
    return out


def _uid(*parts):
    """A UID derived from parts, so one study UID always yields the same series/SOP UIDs."""
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def make_chest_ct(study_uid=None, slices=40, size=128, pixel_spacing=2.5, slice_thickness=5.0,
                  patient_id="PHANTOM1"):
    """The phantom as a list of CT Image Storage datasets (one per slice, superior first).

    Explicit VR Little Endian with file meta, ready for to_bytes() and STOW. Series and SOP
    Instance UIDs are derived from the study UID, so the same study UID gives the same
    instances (handy for idempotent re-stores)."""
    study_uid = study_uid or generate_uid()
    series_uid = _uid(study_uid, "series")
    frame_uid = _uid(study_uid, "frame-of-reference")
    _, noisy = phantom_hu(slices, size, pixel_spacing, slice_thickness)
    stored = np.clip(np.rint(noisy - RESCALE_INTERCEPT), 0, 4095).astype(np.uint16)
    xs, ys, zs = _grid(slices, size, pixel_spacing, slice_thickness)

    datasets = []
    for k in range(slices):
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = _uid(study_uid, "instance", k)
        ds.StudyDate = "20240611"
        ds.StudyTime = "101500"
        ds.SeriesDate = "20240611"
        ds.SeriesTime = "101600"
        ds.ContentDate = "20240611"
        ds.ContentTime = "101600"
        ds.AcquisitionDate = "20240611"
        ds.AcquisitionTime = "101600"
        ds.AccessionNumber = "PHACC001"
        ds.Modality = "CT"
        ds.Manufacturer = "MiniVNA phantom"
        ds.ReferringPhysicianName = "Phantom^Referrer"
        ds.StudyDescription = "CT CHEST phantom"
        ds.SeriesDescription = "Axial 5 mm"
        ds.BodyPartExamined = "CHEST"
        ds.PatientName = "Phantom^Chest"
        ds.PatientID = patient_id
        ds.PatientBirthDate = "19700101"
        ds.PatientSex = "O"
        ds.SliceThickness = f"{slice_thickness:g}"
        ds.SpacingBetweenSlices = f"{slice_thickness:g}"
        ds.KVP = "120"
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = 2
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{xs[0]:g}", f"{ys[0]:g}", f"{zs[k]:g}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = f"{zs[k]:g}"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = size
        ds.Columns = size
        ds.PixelSpacing = [f"{pixel_spacing:g}", f"{pixel_spacing:g}"]
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.WindowCenter = "-600"
        ds.WindowWidth = "1500"
        ds.RescaleIntercept = str(RESCALE_INTERCEPT)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.PixelData = stored[k].tobytes()  # numpy's native order is little endian here

        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        datasets.append(ds)
    return datasets


def to_bytes(ds):
    """A dataset as a Part-10 file (preamble, DICM, file meta), as STOW wants it."""
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


if __name__ == "__main__":
    import json
    print(json.dumps(expected_volumes_ml(), indent=2))
