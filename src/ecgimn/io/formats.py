"""The one table of ECG file formats: file suffix -> reader, used by :func:`ecgimn.io.read_ecg`, the command
line's folder / glob scan and the app's upload allow-list."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileFormat:
    """One accepted file format."""

    reader: str  # key of the reader in ``ecgimn.io.readers``
    name: str  # for messages and the README
    suffixes: tuple[str, ...]  # lower case, with the dot; the first one is the one a folder scan picks up
    scan: bool = True  # picked up from folders and globs (False: a companion file, e.g. WFDB .dat)


FORMATS: tuple[FileFormat, ...] = (
    FileFormat("wfdb", "WFDB record (.hea + .dat)", (".hea",)),
    FileFormat("wfdb", "WFDB signal file", (".dat",), scan=False),
    FileFormat("csv", "CSV / TSV / text table", (".csv", ".tsv", ".txt")),
    FileFormat("npy", "NumPy array", (".npy",)),
    FileFormat("npz", "NumPy archive", (".npz",)),
    FileFormat("edf", "EDF / EDF+ / BDF", (".edf", ".bdf")),
    FileFormat("xml", "GE MUSE, HL7 aECG or Philips Sierra XML", (".xml",)),
    FileFormat("dicom", "DICOM 12-lead ECG waveform", (".dcm",)),
    FileFormat("scp", "SCP-ECG", (".scp",)),
    FileFormat("zip", ".zip holding one record", (".zip",)),
)

#: suffix -> reader key
READERS_BY_SUFFIX: dict[str, str] = {s: f.reader for f in FORMATS for s in f.suffixes}
#: suffixes a folder or glob scan picks up (a WFDB record counts once, by its ``.hea``)
SCAN_SUFFIXES: tuple[str, ...] = tuple(s for f in FORMATS if f.scan for s in f.suffixes)
#: suffixes accepted in an upload (a WFDB record as its .hea + .dat files, or a .zip)
UPLOAD_SUFFIXES: tuple[str, ...] = tuple(READERS_BY_SUFFIX)
#: suffixes allowed inside a .zip (no .zip in a .zip)
ZIP_MEMBER_SUFFIXES: tuple[str, ...] = tuple(s for s in UPLOAD_SUFFIXES if READERS_BY_SUFFIX[s] != "zip")
#: one line for messages
SUPPORTED = (
    "WFDB .hea/.dat (or the record name), .csv/.tsv/.txt, .npy, .npz, .edf/.bdf, .xml (GE MUSE, HL7 aECG, "
    "Philips Sierra), .dcm (DICOM ECG), .scp (SCP-ECG), .zip (one record)"
)


def reader_for(suffix: str) -> str | None:
    """The reader key for a file suffix (any case), or ``None``."""
    return READERS_BY_SUFFIX.get(suffix.lower())
