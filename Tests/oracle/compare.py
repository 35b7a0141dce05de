"""Normalisation that makes MiniVNA's and pydicom's DICOM JSON comparable.

Only differences that PS3.18 leaves open or that are pydicom representation choices are
normalised here; each rule says which. Everything else must match exactly."""
from typing import Any


def normalize(dataset: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for tag, element in dataset.items():
        element = dict(element)
        if "BulkDataURI" in element:
            # URIs are the caller's choice; the test checks both sides chose bulk data.
            element["BulkDataURI"] = "BULK"
        if "Value" in element:
            values = element["Value"]
            if element.get("vr") == "SQ":
                values = [normalize(item) for item in values]
            else:
                values = [_normalize_value(v, element.get("vr")) for v in values]
            # PS3.18 F.2.5: a zero-length value has no "Value"; pydicom writes [] for empty SQ.
            if values:
                element["Value"] = values
            else:
                del element["Value"]
        out[tag] = element
    return out


# PS3.5 Table 6.2-1: leading and trailing spaces are insignificant in these VRs. pydicom strips
# only the end of the whole value, so "DERIVED \\PRIMARY" keeps a space inside; MiniVNA trims each.
_SPACE_INSIGNIFICANT = {"AE", "CS", "DS", "IS", "LO", "SH", "PN", "DA", "TM", "DT", "UI"}


def _normalize_value(value: Any, vr: str | None) -> Any:
    if isinstance(value, str) and vr in _SPACE_INSIGNIFICANT:
        value = value.strip(" ")
    # PS3.18 F.2.5: an empty value in a multi-valued element is null; pydicom writes "".
    if value is None:
        return ""
    if isinstance(value, dict):
        # PN: an absent component group and an empty one are the same value.
        groups = {k: v for k, v in value.items() if v not in ("", None)}
        return groups or ""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def first_difference(ours: Any, theirs: Any, path: str = "") -> str | None:
    """A readable description of the first place two JSON values differ."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs)):
            if key not in ours:
                return f"{path}/{key}: missing in MiniVNA (pydicom: {str(theirs[key])[:200]})"
            if key not in theirs:
                return f"{path}/{key}: extra in MiniVNA ({str(ours[key])[:200]})"
            diff = first_difference(ours[key], theirs[key], f"{path}/{key}")
            if diff:
                return diff
        return None
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return f"{path}: {len(ours)} values in MiniVNA, {len(theirs)} in pydicom: {str(ours)[:200]} vs {str(theirs)[:200]}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            diff = first_difference(a, b, f"{path}[{i}]")
            if diff:
                return diff
        return None
    if ours != theirs:
        return f"{path}: MiniVNA {str(ours)[:200]!s} != pydicom {str(theirs)[:200]!s}"
    return None
