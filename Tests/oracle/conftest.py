import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).parent))


def pytest_terminal_summary(terminalreporter):
    try:
        from test_pydicom_oracle import RESULTS
    except ImportError:
        return
    if sum(RESULTS.values()):
        terminalreporter.write_line(
            f"pydicom oracle: {RESULTS['equal']} files equal to pydicom's DICOM JSON; "
            f"{RESULTS['known']} known differences, {RESULTS['not_dicom']} not DICOM, "
            f"{RESULTS['pydicom_rejects']} rejected by pydicom (listed in test_pydicom_oracle.py)")
