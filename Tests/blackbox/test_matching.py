"""QIDO-RS matching rules, includefield, paging, OHIF's queries and percent-encoding.

A synthetic corpus of 16 studies with chosen names, IDs, dates and modalities is stored
once per module; every test checks the exact set of studies (by key S1..S16) it returns.
"""
import pytest
from dicomweb_client.api import DICOMwebClient

from bbhelpers import (MODALITIES_IN_STUDY, MR_IMAGE, N_SERIES_INSTANCES, N_STUDY_INSTANCES,
                       N_STUDY_SERIES, PATIENT_BIRTH_DATE, REFERRING_PHYSICIAN, SERIES_DATE,
                       SERIES_DESCRIPTION, SERIES_UID, SOP_UID, STUDY_DESCRIPTION, STUDY_UID,
                       make_dataset, qido, qido_json, stow, to_bytes, uids, value, values)

# key: (PatientName, PatientID, AccessionNumber, StudyDescription, StudyDate, StudyTime,
#       [(Modality, number of instances) per series])
CORPUS = {
    "S1": ("Smith^John", "PID123456", "acx-001", "CT chest xray", "20240315", "101500",
           [("CT", 2), ("CT", 1)]),
    "S2": ("Smithson^Anna", "123-ABC", "xa-77", "Abdomen x", "20241130", "080000",
           [("CT", 1), ("MR", 2)]),
    "S3": ("Jones^Smith", "X1234", "box9", "hex scan", "20240101", "000000", [("CT", 1)]),
    "S4": ("BLACKSMITH^Ann", "77123", "x", "x", "20241231", "235959", [("CT", 1)]),
    "S5": ("Blacksmith^Tom", "99123", "ax9", "head x", "20231231", "120000", [("CT", 1)]),
    "S6": ("Smith^Jane", "PID999", "x1", "x", "20240601", "120000", [("CT", 1)]),
    "S7": ("Smith^Carl", "123", "x2", "mr x", "20240602", "120000", [("MR", 1)]),
    "S8": ("Smith^Dan", "1234", "x3", "x", "20250102", "120000", [("CT", 1)]),
    "S9": ("Smith^Eve", "5123", "x4", "Chest", "20240603", "120000", [("CT", 1)]),
    "S10": ("Smith^Fay", "6123", "ACC-9", "x", "20240604", "120000", [("CT", 1)]),
    "S11": ("Brown^Bob", "123", "x", "x", "20240605", "120000", [("CT", 1)]),
    "S12": ("Müller^Jürgen", "FZ-1", "FZ1", "Schädel", "20220101", "120000", [("MR", 1)]),
    "S13": ("García^José", "FZ-2", "FZ2", "Tórax", "20220202", "120000", [("CT", 1)]),
    "S14": ("Åström^Björn", "FZ-3", "FZ3", "Hand", "20220303", "120000", [("OT", 1)]),
    "S15": ("MULLER^HANS", "FZ-4", "FZ4", "Knee", "20220404", "120000", [("CT", 1)]),
    "S16": ("Nodesc^Pat", "ND-1", "ND1", None, "20200101", "120000", [("US", 1)]),
}
ALL = set(CORPUS)
OHIF_EXPECTED = {"S1", "S2", "S3", "S4"}


@pytest.fixture(scope="module")
def corpus(module_server):
    """Store the corpus; returns key -> {"study", "series": [uid], "sops": [[uid]], ...}."""
    info, blobs = {}, []
    for key, (name, pid, acc, desc, date, time, series) in CORPUS.items():
        study = make_dataset(patient_name=name).StudyInstanceUID
        entry = {"study": study, "series": [], "sops": [], "modalities": []}
        for number, (modality, count) in enumerate(series, start=1):
            series_uid = None
            sops = []
            for inst in range(1, count + 1):
                ds = make_dataset(patient_name=name, patient_id=pid, accession=acc,
                                  study_description=desc, study_date=date, study_time=time,
                                  study_uid=study, series_uid=series_uid, modality=modality,
                                  series_number=number, instance_number=inst,
                                  series_description=f"{key} series {number}",
                                  series_date=date, birth_date="19750607")
                series_uid = ds.SeriesInstanceUID
                sops.append(ds.SOPInstanceUID)
                blobs.append(to_bytes(ds))
            entry["series"].append(series_uid)
            entry["sops"].append(sops)
            entry["modalities"].append(modality)
        info[key] = entry
    r = stow(module_server.base, blobs)
    assert r.status_code == 200, r.text
    return info


def keys_of(corpus, results):
    by_uid = {v["study"]: k for k, v in corpus.items()}
    got = [by_uid.get(value(r, STUDY_UID), "?") for r in results]
    assert len(got) == len(set(got)), f"duplicate studies in {got}"
    return set(got)


def studies(server, corpus, query):
    return keys_of(corpus, qido_json(server.base, "studies", query))


# --- single values, UID lists, universal matching -------------------------------------

@pytest.mark.parametrize("query,expected", [
    ("PatientName=Smith^John", {"S1"}),
    ("PatientName=smith^john", {"S1"}),               # PN is case-insensitive
    ("PatientName=m%C3%BCller%5Ej%C3%BCrgen", {"S12"}),
    ("PatientID=123", {"S7", "S11"}),
    ("AccessionNumber=x", {"S4", "S11"}),
    ("StudyDescription=Chest", {"S9"}),
    ("StudyDate=20240315", {"S1"}),
    ("StudyTime=080000", {"S2"}),
    ("ModalitiesInStudy=MR", {"S2", "S7", "S12"}),
    ("ModalitiesInStudy=US", {"S16"}),
    ("PatientName=Nobody", set()),
    ("PatientName=Smith", set()),                     # single value = whole name
])
def test_single_value(module_server, corpus, query, expected):
    assert studies(module_server, corpus, query) == expected


@pytest.mark.parametrize("query", ["PatientName=M%C3%9CLLER%5EJ%C3%9CRGEN",
                                   "PatientName=*%C3%9CLLER*"])
def test_pn_case_insensitive_beyond_ascii(module_server, corpus, query):
    assert studies(module_server, corpus, query) == {"S12"}


@pytest.mark.parametrize("sep", ["\\", ",", "%5C", "%2C"])
def test_uid_list(module_server, corpus, sep):
    q = f"StudyInstanceUID={corpus['S1']['study']}{sep}{corpus['S3']['study']}{sep}1.2.3.999"
    assert studies(module_server, corpus, q) == {"S1", "S3"}


def test_uid_single(module_server, corpus):
    q = f"StudyInstanceUID={corpus['S13']['study']}"
    assert studies(module_server, corpus, q) == {"S13"}


def test_universal_matching_returns_attribute(module_server, corpus):
    base = module_server.base
    default = qido_json(base, "studies", "PatientID=PID123456")
    assert STUDY_DESCRIPTION not in default[0], "StudyDescription is not a default attribute"
    results = qido_json(base, "studies", "StudyDescription=")
    assert keys_of(corpus, results) == ALL  # matches studies without a description too
    for r in results:
        assert STUDY_DESCRIPTION in r, r
    by_key = {k: r for k, r in zip(keys_of_list(corpus, results), results)}
    assert value(by_key["S1"], STUDY_DESCRIPTION) == "CT chest xray"
    assert value(by_key["S16"], STUDY_DESCRIPTION) is None


def keys_of_list(corpus, results):
    by_uid = {v["study"]: k for k, v in corpus.items()}
    return [by_uid[value(r, STUDY_UID)] for r in results]


# --- wildcards ------------------------------------------------------------------------

@pytest.mark.parametrize("query,expected", [
    ("PatientName=*smith*", {"S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10"}),
    ("PatientName=Smith^*", {"S1", "S6", "S7", "S8", "S9", "S10"}),
    ("PatientName=Sm?th^J*", {"S1", "S6"}),
    ("PatientName=?lacksmith*", {"S4", "S5"}),
    ("PatientName=*son^Anna", {"S2"}),
    ("PatientName=*", ALL),
    ("PatientName=*^?o?", {"S11", "S5"}),
    ("PatientID=*123", {"S4", "S5", "S7", "S9", "S10", "S11"}),
    ("PatientID=?1234", {"S3"}),
    ("PatientID=1?34", {"S8"}),
    ("PatientID=FZ-*", {"S12", "S13", "S14", "S15"}),
    ("AccessionNumber=*x*", {"S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S11"}),
    ("StudyDescription=*x*", {"S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S10", "S11",
                              "S13"}),
    ("StudyDescription=?hest", {"S9"}),
    ("StudyDescription=Sch*", {"S12"}),
])
def test_wildcards(module_server, corpus, query, expected):
    assert studies(module_server, corpus, query) == expected


# --- date and time ranges -------------------------------------------------------------

@pytest.mark.parametrize("query,expected", [
    ("StudyDate=20240101-20241231", {"S1", "S2", "S3", "S4", "S6", "S7", "S9", "S10", "S11"}),
    ("StudyDate=-20231231", {"S5", "S12", "S13", "S14", "S15", "S16"}),
    ("StudyDate=20250101-", {"S8"}),
    ("StudyDate=20240315-20240315", {"S1"}),
    ("StudyDate=20220202-20220303", {"S13", "S14"}),
    ("StudyTime=080000-101500", {"S1", "S2"}),
    ("StudyTime=-000000", {"S3"}),
    ("StudyTime=235959-", {"S4"}),
    ("StudyDate=20240101-20241231&StudyTime=-101500", {"S1", "S2", "S3"}),
])
def test_date_time_ranges(module_server, corpus, query, expected):
    assert studies(module_server, corpus, query) == expected


# --- keys by tag ----------------------------------------------------------------------

@pytest.mark.parametrize("query,expected", [
    ("00100010=Smith^John", {"S1"}),
    ("00100020=FZ-1", {"S12"}),
    ("00080061=US", {"S16"}),
    ("00080020=20250101-", {"S8"}),
    ("00080050=x", {"S4", "S11"}),
    ("00081030=Knee", {"S15"}),
])
def test_keys_by_tag(module_server, corpus, query, expected):
    assert studies(module_server, corpus, query) == expected


def test_uid_by_tag(module_server, corpus):
    q = f"0020000D={corpus['S2']['study']},{corpus['S4']['study']}"
    assert studies(module_server, corpus, q) == {"S2", "S4"}


# --- fuzzy matching -------------------------------------------------------------------

@pytest.mark.parametrize("query,expected", [
    ("fuzzymatching=true&PatientName=muller", {"S12", "S15"}),
    ("fuzzymatching=true&PatientName=MULLER", {"S12", "S15"}),
    ("fuzzymatching=true&PatientName=jurg", {"S12"}),
    ("fuzzymatching=true&PatientName=jose", {"S13"}),
    ("fuzzymatching=true&PatientName=gar", {"S13"}),
    ("fuzzymatching=true&PatientName=astrom", {"S14"}),
    ("fuzzymatching=true&PatientName=bjo", {"S14"}),
    ("fuzzymatching=true&PatientName=Mül", {"S12", "S15"}),
    # prefix of a name component: Jones^Smith matches by its given name, Blacksmith does not
    ("fuzzymatching=true&PatientName=smi", {"S1", "S2", "S3", "S6", "S7", "S8", "S9", "S10"}),
    ("fuzzymatching=false&PatientName=muller", set()),
    ("PatientName=muller", set()),
])
def test_fuzzymatching(module_server, corpus, query, expected):
    assert studies(module_server, corpus, query) == expected


def test_fuzzymatching_percent_encoded(module_server, corpus):
    q = "fuzzymatching=true&PatientName=m%C3%BCller"
    assert studies(module_server, corpus, q) == {"S12", "S15"}


# --- includefield ---------------------------------------------------------------------

@pytest.mark.parametrize("include", ["StudyDescription", "00081030", "all"])
def test_includefield_study(module_server, corpus, include):
    r = qido_json(module_server.base, "studies", f"PatientID=PID123456&includefield={include}")
    assert len(r) == 1
    assert value(r[0], STUDY_DESCRIPTION) == "CT chest xray"


def test_includefield_repeated_and_listed(module_server, corpus):
    for q in ["PatientID=FZ-2&includefield=StudyDescription&includefield=00100030",
              "PatientID=FZ-2&includefield=StudyDescription,PatientBirthDate"]:
        r = qido_json(module_server.base, "studies", q)
        assert len(r) == 1
        assert value(r[0], STUDY_DESCRIPTION) == "Tórax"
        assert value(r[0], PATIENT_BIRTH_DATE) == "19750607"


def test_includefield_series(module_server, corpus):
    s1 = corpus["S1"]
    r = qido_json(module_server.base, f"studies/{s1['study']}/series",
                  "includefield=SeriesDescription")
    assert {value(x, SERIES_DESCRIPTION) for x in r} == {"S1 series 1", "S1 series 2"}
    # SeriesDate is not a default series attribute: only with includefield
    plain = qido_json(module_server.base, f"studies/{s1['study']}/series")
    assert all(SERIES_DATE not in x for x in plain)
    r = qido_json(module_server.base, f"studies/{s1['study']}/series", "includefield=00080021")
    assert [value(x, SERIES_DATE) for x in r] == ["20240315", "20240315"]


def test_includefield_all_instances(module_server, corpus):
    sop = corpus["S13"]["sops"][0][0]
    r = qido_json(module_server.base, "instances", f"SOPInstanceUID={sop}&includefield=all")
    assert len(r) == 1
    assert value(r[0], SOP_UID) == sop
    assert value(r[0], STUDY_UID) == corpus["S13"]["study"]


# --- series and instance levels, counts -----------------------------------------------

def test_study_counts(module_server, corpus):
    results = qido_json(module_server.base, "studies")
    assert keys_of(corpus, results) == ALL
    for r in results:
        entry = corpus[keys_of_list(corpus, [r])[0]]
        assert value(r, N_STUDY_SERIES) == len(entry["series"])
        assert value(r, N_STUDY_INSTANCES) == sum(len(s) for s in entry["sops"])
        assert set(values(r, MODALITIES_IN_STUDY)) == set(entry["modalities"])


def test_series_level(module_server, corpus):
    base = module_server.base
    s1 = corpus["S1"]
    r = qido_json(base, f"studies/{s1['study']}/series")
    got = {value(x, SERIES_UID): value(x, N_SERIES_INSTANCES) for x in r}
    assert got == {s1["series"][0]: 2, s1["series"][1]: 1}

    mr = qido_json(base, "series", "Modality=MR")
    assert set(uids(mr, SERIES_UID)) == {corpus["S2"]["series"][1], corpus["S7"]["series"][0],
                                         corpus["S12"]["series"][0]}
    two = qido_json(base, "series", "SeriesNumber=2")
    assert set(uids(two, SERIES_UID)) == {corpus["S1"]["series"][1], corpus["S2"]["series"][1]}
    by_uid = qido_json(base, "series", f"SeriesInstanceUID={s1['series'][1]}")
    assert set(uids(by_uid, SERIES_UID)) == {s1["series"][1]}
    # series query with a study-level key
    pn = qido_json(base, "series", "PatientName=Smithson^Anna")
    assert set(uids(pn, SERIES_UID)) == set(corpus["S2"]["series"])


def test_instance_level(module_server, corpus):
    base = module_server.base
    s1, s2 = corpus["S1"], corpus["S2"]
    r = qido_json(base, f"studies/{s1['study']}/instances")
    assert set(uids(r, SOP_UID)) == set(s1["sops"][0] + s1["sops"][1])
    r = qido_json(base, f"studies/{s1['study']}/series/{s1['series'][0]}/instances",
                  "InstanceNumber=2")
    assert uids(r, SOP_UID) == [s1["sops"][0][1]]
    r = qido_json(base, "instances", f"SOPClassUID={MR_IMAGE}")
    mr_sops = set(s2["sops"][1] + corpus["S7"]["sops"][0] + corpus["S12"]["sops"][0])
    assert set(uids(r, SOP_UID)) == mr_sops
    r = qido_json(base, f"studies/{s2['study']}/instances", "Modality=MR")
    assert set(uids(r, SOP_UID)) == set(s2["sops"][1])
    # an instance in another study is not found under this study
    r = qido_json(base, f"studies/{s1['study']}/instances",
                  f"SOPInstanceUID={s2['sops'][0][0]}")
    assert r == []


# --- paging ---------------------------------------------------------------------------

@pytest.mark.parametrize("limit", [1, 3, 5, 16])
def test_paging_studies(module_server, corpus, limit):
    base = module_server.base
    total = len(CORPUS)
    seen = []
    offset = 0
    while offset < total + limit:
        r = qido(base, "studies", f"limit={limit}&offset={offset}")
        assert r.status_code == 200
        page = r.json()
        if offset + limit < total:
            assert len(page) == limit
            assert r.headers.get("Warning", "").startswith("299"), (offset, r.headers)
        else:
            assert len(page) == max(0, total - offset)
            assert "Warning" not in r.headers, (offset, r.headers)
        seen.extend(keys_of_list(corpus, page))
        offset += limit
    assert len(seen) == len(set(seen)), "duplicate studies across pages"
    assert set(seen) == ALL, "gap across pages"


def test_paging_instances(module_server, corpus):
    base = module_server.base
    all_sops = {s for e in corpus.values() for series in e["sops"] for s in series}
    seen = []
    for offset in range(0, len(all_sops) + 4, 4):
        seen.extend(uids(qido_json(base, "instances", f"limit=4&offset={offset}"), SOP_UID))
    assert len(seen) == len(set(seen))
    assert set(seen) == all_sops


def test_paging_with_filter(module_server, corpus):
    base = module_server.base
    r = qido(base, "studies", "PatientName=Smith*&limit=2")
    assert r.status_code == 200
    assert len(r.json()) == 2
    assert r.headers.get("Warning", "").startswith("299")
    r = qido(base, "studies", "PatientName=Smith*&limit=2&offset=6")
    assert keys_of_list(corpus, r.json()) and len(r.json()) == 1  # 7 Smith* studies
    assert "Warning" not in r.headers


def test_dicomweb_client_get_remaining(module_server, corpus):
    client = DICOMwebClient(url=module_server.base)
    found = client.search_for_studies(limit=5, get_remaining=True)
    assert keys_of(corpus, found) == ALL


# --- OHIF -----------------------------------------------------------------------------

OHIF_STUDY_QUERY = ("PatientName=*smith*&00100020=*123*&AccessionNumber=*x*"
                    "&StudyDescription=*x*&ModalitiesInStudy=CT&StudyDate=20240101-20241231"
                    "&limit=101&offset=0&fuzzymatching=false"
                    "&includefield=00081030,00080060,00080090,00100030")


def test_ohif_study_query(module_server, corpus):
    r = qido(module_server.base, "studies", OHIF_STUDY_QUERY, accept="application/dicom+json")
    assert r.status_code == 200, r.text
    assert "Warning" not in r.headers
    results = r.json()
    assert keys_of(corpus, results) == OHIF_EXPECTED
    for res in results:
        key = keys_of_list(corpus, [res])[0]
        assert value(res, STUDY_DESCRIPTION) == CORPUS[key][3]
        assert value(res, REFERRING_PHYSICIAN) == {"Alphabetic": "Ref^Doc"}
        assert value(res, PATIENT_BIRTH_DATE) == "19750607"
        assert "CT" in values(res, MODALITIES_IN_STUDY)


def test_ohif_series_query(module_server, corpus):
    for key in ("S1", "S2"):
        e = corpus[key]
        r = qido(module_server.base, f"studies/{e['study']}/series",
                 "includefield=0008103E,00080021", accept="application/dicom+json")
        assert r.status_code == 200, r.text
        results = r.json()
        assert set(uids(results, SERIES_UID)) == set(e["series"])
        for res in results:
            n = e["series"].index(value(res, SERIES_UID)) + 1
            assert value(res, SERIES_DESCRIPTION) == f"{key} series {n}"
            assert value(res, SERIES_DATE) == CORPUS[key][4]


# --- percent-encoding -----------------------------------------------------------------

@pytest.mark.parametrize("query,expected", [
    ("PatientName=%2Asmith%2A", {"S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10"}),
    ("PatientName=%2asmithson%2a", {"S2"}),
    ("PatientName=Smith%5EJohn", {"S1"}),
    ("PatientName=Smith%5eJane", {"S6"}),
    ("PatientName=Sm%3Fth%5EJ%2A", {"S1", "S6"}),
    ("PatientName=M%C3%BCller%5EJ%C3%BCrgen", {"S12"}),
    ("PatientName=%C3%85str%C3%B6m%5EBj%C3%B6rn", {"S14"}),
    ("PatientName=Garc%C3%ADa%5E%2A", {"S13"}),
    ("%50atientID=FZ-1", {"S12"}),
    ("StudyDate=20240101%2D20241231&PatientID=%2A123", {"S4", "S7", "S9", "S10", "S11"}),
])
def test_percent_encoding(module_server, corpus, query, expected):
    assert studies(module_server, corpus, query) == expected


def test_percent_encoding_via_requests_params(module_server, corpus):
    # requests encodes these itself (UTF-8, ^ as %5E, * left as is)
    r = qido_json(module_server.base, "studies", {"PatientName": "Müller^Jürgen"})
    assert keys_of(corpus, r) == {"S12"}
    r = qido_json(module_server.base, "studies", {"PatientName": "García^José"})
    assert keys_of(corpus, r) == {"S13"}
