#!/usr/bin/env bash
# Installs what MiniVNA needs to build and test on a fresh Debian machine with Swift at /opt/swift:
# C libraries (apt), DCMTK and OpenJPEG tools for tests and fixtures, and the Python packages the
# oracle and black-box tests use. Installs only what is missing, so it is cheap to run every time.
set -euo pipefail

APT_PACKAGES=(pkg-config zlib1g-dev libsqlite3-dev libssl-dev libopenjp2-7-dev libturbojpeg0-dev
              libopenjp2-tools dcmtk dicom3tools curl)
PIP_PACKAGES=(pydicom pydicom-data numpy pillow pytest requests dicomweb-client "fhir.resources>=8" fhirclient highdicom scipy pyjwt cryptography)

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: apt-get install ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c "import pydicom, data_store, numpy, PIL, pytest, requests, dicomweb_client, fhir.resources.R4B, fhirclient, highdicom, scipy, jwt, cryptography" 2>/dev/null; then
    echo "install-deps: pip install ${PIP_PACKAGES[*]}"
    python3 -m pip install -q "${PIP_PACKAGES[@]}"
fi

command -v swift >/dev/null || { echo "install-deps: swift is not on PATH (expected /opt/swift/usr/bin)" >&2; exit 1; }
