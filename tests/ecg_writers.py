"""Writers of vendor ECG files, per each format's schema, for the reader tests (test support, not a product).

Each takes a ``(C, L)`` signal in mV with its lead names and rate, and writes the file a cart or hospital system
would export: GE MUSE XML (restecg.dtd: Base64 int16 per lead, ``LeadAmplitudeUnitsPerBit`` µV), HL7 aECG
(``AnnotatedECG``: GLIST time increment, SLIST_PQ origin/scale/digits per lead), Philips Sierra XML 1.04
(Base64 int16 or XLI-compressed ``parsedwaveforms``, ``resolution`` µV) and DICOM 12-lead ECG waveform
(``WaveformSequence``, int16 with ``ChannelSensitivity`` µV).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np


def _counts(x_mv: np.ndarray, lsb_uv: float) -> np.ndarray:
    counts = np.round(np.asarray(x_mv, dtype=np.float64) * 1000.0 / lsb_uv)
    assert np.abs(counts).max() < 32767, "signal does not fit int16 at this resolution"
    return counts.astype("<i2")


def write_muse(
    path: Path,
    x_mv: np.ndarray,
    names: Sequence[str],
    fs: float,
    *,
    lsb_uv: float = 4.88,
    median: bool = True,
) -> Path:
    """GE MUSE ``RestingECG`` (with the DOCTYPE line real exports carry) with a Median (here: the first 0.6 s)
    and a Rhythm waveform."""

    def waveform(kind: str, x: np.ndarray) -> str:
        leads = "".join(
            f"<LeadData><LeadByteCountTotal>{2 * x.shape[1]}</LeadByteCountTotal>"
            f"<LeadSampleCountTotal>{x.shape[1]}</LeadSampleCountTotal>"
            f"<LeadAmplitudeUnitsPerBit>{lsb_uv:g}</LeadAmplitudeUnitsPerBit>"
            "<LeadAmplitudeUnits>MICROVOLTS</LeadAmplitudeUnits><LeadHighLimit>32767</LeadHighLimit>"
            f"<LeadLowLimit>-32768</LeadLowLimit><LeadID>{escape(name)}</LeadID><LeadSampleSize>2</LeadSampleSize>"
            f"<WaveFormData>{base64.encodebytes(_counts(lead, lsb_uv).tobytes()).decode()}</WaveFormData></LeadData>"
            for name, lead in zip(names, x)
        )
        return (
            f"<Waveform><WaveformType>{kind}</WaveformType><WaveformStartTime>0</WaveformStartTime>"
            f"<NumberofLeads>{len(names)}</NumberofLeads><SampleType>CONTINUOUS_SAMPLES</SampleType>"
            f"<SampleBase>{fs:g}</SampleBase><SampleExponent>0</SampleExponent><HighPassFilter>16</HighPassFilter>"
            f"<LowPassFilter>150</LowPassFilter><ACFilter>50</ACFilter>{leads}</Waveform>"
        )

    med = waveform("Median", x_mv[:, : int(0.6 * fs)]) if median else ""
    path.write_text(
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n'
        "<RestingECG><MuseInfo><MuseVersion>9.0.9.18167</MuseVersion>"
        "</MuseInfo><TestDemographics><DataType>RESTING</DataType><Site>1</Site><AcquisitionDevice>MAC5500"
        "</AcquisitionDevice><AcquisitionSoftwareVersion>010A</AcquisitionSoftwareVersion><AcquisitionTime>"
        "10:31:05</AcquisitionTime><AcquisitionDate>05-01-2024</AcquisitionDate></TestDemographics>"
        f"{med}{waveform('Rhythm', x_mv)}</RestingECG>\n",
        encoding="latin-1",
    )
    return path


_AECG_CODES = {"aVR": "AVR", "aVL": "AVL", "aVF": "AVF"}


def write_aecg(
    path: Path,
    x_mv: np.ndarray,
    names: Sequence[str],
    fs: float,
    *,
    scale_uv: float = 2.5,
    origin_uv: float = 0.0,
) -> Path:
    """HL7 aECG ``AnnotatedECG`` (urn:hl7-org:v3) with one RHYTHM series holding, as real exports do, a
    REPRESENTATIVE_BEAT derived series (here: the first 0.6 s)."""
    seqs = [
        '<component><sequence><code code="TIME_ABSOLUTE" codeSystem="2.16.840.1.113883.5.4"/>'
        f'<value xsi:type="GLIST_TS"><head value="20240501103105.000"/><increment value="{1 / fs:.10g}" unit="s"/>'
        "</value></sequence></component>"
    ]
    for name, lead in zip(names, x_mv):
        digits = np.round((lead * 1000.0 - origin_uv) / scale_uv).astype(np.int64)
        seqs.append(
            f'<component><sequence><code code="MDC_ECG_LEAD_{_AECG_CODES.get(name, name)}" '
            'codeSystem="2.16.840.1.113883.6.24"/><value xsi:type="SLIST_PQ">'
            f'<origin value="{origin_uv:g}" unit="uV"/><scale value="{scale_uv:g}" unit="uV"/>'
            f"<digits>{' '.join(map(str, digits))}</digits></value></sequence></component>"
        )
    beat = "".join(seqs[1:]).replace("<digits>", "<digits>0 ")  # a different, shorter set of sequences
    derived = (
        '<derivation><derivedSeries><code code="REPRESENTATIVE_BEAT" codeSystem="2.16.840.1.113883.5.4"/>'
        '<component><sequenceSet><component><sequence><code code="TIME_RELATIVE" codeSystem="2.16.840.1.113883.5.4"/>'
        f'<value xsi:type="GLIST_PQ"><head value="0" unit="s"/><increment value="{1 / fs:.10g}" unit="s"/></value>'
        f"</sequence></component>{beat}</sequenceSet></component></derivedSeries></derivation>"
    )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<AnnotatedECG xmlns="urn:hl7-org:v3" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><id root="1.2.3"/>'
        '<code code="93000" codeSystem="2.16.840.1.113883.6.12"/>'
        '<effectiveTime><low value="20240501103105"/><high value="20240501103115"/></effectiveTime>'
        '<component><series><id root="1.2.3.1"/><code code="RHYTHM" codeSystem="2.16.840.1.113883.5.4"/>'
        "<author><seriesAuthor><manufacturedSeriesDevice><manufacturerModelName>ELI 350</manufacturerModelName>"
        "</manufacturedSeriesDevice></seriesAuthor></author>"
        f"<component><sequenceSet>{''.join(seqs)}</sequenceSet></component>{derived}</series></component>"
        "</AnnotatedECG>\n",
        encoding="utf-8",
    )
    return path


# ------------------------------------------------------------------------------------------- Philips Sierra / XLI


def _lzw_encode(data: bytes, bits: int = 10) -> bytes:
    """LZW with fixed ``bits``-bit codes, MSB first, table frozen when full (what ``sierraecg`` decodes)."""
    max_code = (1 << bits) - 2
    table = {bytes([i]): i for i in range(256)}
    next_code, w, codes = 256, b"", []
    for byte in data:
        wc = w + bytes([byte])
        if wc in table:
            w = wc
            continue
        codes.append(table[w])
        if next_code <= max_code:
            table[wc] = next_code
            next_code += 1
        w = bytes([byte])
    if w:
        codes.append(table[w])
    acc, n_bits, out = 0, 0, bytearray()
    for code in codes:
        acc, n_bits = (acc << bits) | code, n_bits + bits
        while n_bits >= 8:
            n_bits -= 8
            out.append((acc >> n_bits) & 0xFF)
    if n_bits:
        out.append((acc << (8 - n_bits)) & 0xFF)
    return bytes(out)


def xli_encode(leads: Sequence[np.ndarray]) -> bytes:
    """Philips XLI: per lead, second-difference residuals (+64), high bytes then low bytes, LZW; 8-byte header
    (chunk size, 2 unused bytes, the first residual)."""
    out = bytearray()
    for s in leads:
        s = np.asarray(s, dtype=np.int64)
        d = np.full(s.size, 64, dtype=np.int64)
        d[0], d[1] = s[0], s[1]
        first = 2 * s[1] - s[0] - s[2]
        d[2:-1] = 2 * s[2:-1] - s[1:-2] - s[3:] + 64
        d16 = d.astype(np.int16).view(np.uint16)
        chunk = _lzw_encode(bytes((d16 >> 8).astype(np.uint8)) + bytes((d16 & 0xFF).astype(np.uint8)))
        out += (
            len(chunk).to_bytes(4, "little", signed=True)
            + b"\0\0"
            + int(first).to_bytes(2, "little", signed=True)
        )
        out += chunk
    return bytes(out)


def write_sierra(
    path: Path,
    x_mv: np.ndarray,
    names: Sequence[str],
    fs: float,
    *,
    resolution_uv: float = 5.0,
    xli: bool = False,
) -> Path:
    """Philips Sierra ``restingecgdata`` 1.04 (12 leads in standard order for XLI, as the carts write them)."""
    counts = [_counts(lead, resolution_uv).astype(np.int64) for lead in x_mv]
    if xli:
        assert list(names[:6]) == ["I", "II", "III", "aVR", "aVL", "aVF"]
        i, ii, iii = counts[0], counts[1], counts[2]
        residual = list(counts)  # the cart stores III, aVR, aVL, aVF as residuals of their I/II estimates
        residual[2] = ii - i - iii
        residual[3] = -counts[3] - (i + ii) // 2
        residual[4] = (i - iii) // 2 - counts[4]
        residual[5] = (ii + iii) // 2 - counts[5]
        data, attrs = xli_encode(residual), 'dataencoding="Base64" compression="XLI"'
    else:
        data, attrs = np.concatenate(counts).astype("<i2").tobytes(), 'dataencoding="Base64"'
    n = x_mv.shape[1]
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<restingecgdata><documentinfo><documenttype>SierraECG'
        "</documenttype><documentversion>1.04</documentversion></documentinfo>"
        '<dataacquisition date="2024-05-01" time="10:31:05"><machine machineid="1">PageWriter TC70</machine>'
        f"<signalcharacteristics><samplingrate>{fs:g}</samplingrate><resolution>{resolution_uv:g}</resolution>"
        "<acquisitiontype>STD-12</acquisitiontype><bitspersample>16</bitspersample><signaloffset>0</signaloffset>"
        f"<signalsigned>TRUE</signalsigned><numberchannelsvalid>{len(names)}</numberchannelsvalid>"
        f"<numberchannelsallocated>{len(names)}</numberchannelsallocated></signalcharacteristics></dataacquisition>"
        "<reportinfo><reportbandwidth><highpassfiltersetting>0.05</highpassfiltersetting><lowpassfiltersetting>150"
        "</lowpassfiltersetting><notchfiltersetting>50</notchfiltersetting></reportbandwidth></reportinfo>"
        f'<waveforms><parsedwaveforms durationperchannel="{1000 * n / fs:g}" samplespersecond="{fs:g}" {attrs} '
        f'numberofleads="{len(names)}" leadlabels="{" ".join(names)}">{base64.b64encode(data).decode()}'
        "</parsedwaveforms></waveforms></restingecgdata>\n",
        encoding="utf-8",
    )
    return path


# --------------------------------------------------------------------------------------------------------- DICOM

_DICOM_LEADS = {
    "I": ("5.6.3-9-1", "Lead I (Einthoven)"), "II": ("5.6.3-9-2", "Lead II"), "III": ("5.6.3-9-61", "Lead III"),
    "aVR": ("5.6.3-9-62", "Lead aVR"), "aVL": ("5.6.3-9-63", "Lead aVL"), "aVF": ("5.6.3-9-64", "Lead aVF"),
    **{f"V{k}": (f"5.6.3-9-{k + 2}", f"Lead V{k}") for k in range(1, 7)},
}  # fmt: skip


def write_dicom(
    path: Path, x_mv: np.ndarray, names: Sequence[str], fs: float, *, sensitivity_uv: float = 2.5
) -> Path:
    """DICOM 12-Lead ECG Waveform Storage with one RHYTHM multiplex group (int16, sensitivity in µV)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_class = "1.2.840.10008.5.1.4.1.1.9.1.1"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "ECG", "Test", "Writer"
    ds.AcquisitionDateTime = "20240501103105"
    channels = []
    for name in names:
        ch = Dataset()
        src = Dataset()
        src.CodeValue, src.CodingSchemeDesignator, src.CodeMeaning = (
            *_DICOM_LEADS[name][:1],
            "SCPECG",
            _DICOM_LEADS[name][1],
        )
        ch.ChannelSourceSequence = [src]
        unit = Dataset()
        unit.CodeValue, unit.CodingSchemeDesignator, unit.CodeMeaning = "uV", "UCUM", "microvolt"
        ch.ChannelSensitivity = f"{sensitivity_uv:g}"
        ch.ChannelSensitivityUnitsSequence = [unit]
        ch.ChannelSensitivityCorrectionFactor = "1"
        ch.ChannelBaseline = "0"
        ch.WaveformBitsStored = 16
        ch.FilterLowFrequency, ch.FilterHighFrequency = "0.05", "150"
        channels.append(ch)
    group = Dataset()
    group.MultiplexGroupLabel, group.WaveformOriginality = "RHYTHM", "ORIGINAL"
    group.NumberOfWaveformChannels, group.NumberOfWaveformSamples = len(names), x_mv.shape[1]
    group.SamplingFrequency = f"{fs:g}"
    group.ChannelDefinitionSequence = channels
    group.WaveformBitsAllocated, group.WaveformSampleInterpretation = 16, "SS"
    group.WaveformData = _counts(x_mv, sensitivity_uv).T.copy().tobytes()  # interleaved: sample-major
    ds.WaveformSequence = [group]
    ds.save_as(str(path), enforce_file_format=True)
    return path


# ------------------------------------------------------------------------------------------------------- SCP-ECG

_SCP_LEAD_CODES = {
    "I": 1, "II": 2, "V1": 3, "V2": 4, "V3": 5, "V4": 6, "V5": 7, "V6": 8,
    "III": 61, "aVR": 62, "aVL": 63, "aVF": 64,
}  # fmt: skip


def _scp_section(sid: int, body: bytes) -> bytes:
    import binascii
    import struct

    if len(body) % 2:
        body += b"\0"  # sections have an even length
    rest = struct.pack("<HIBB", sid, 16 + len(body), 20, 20) + b"SCPECG" + body
    return struct.pack("<H", binascii.crc_hqx(rest, 0xFFFF)) + rest


def write_scp(path: Path, x_mv: np.ndarray, names: Sequence[str], fs: float, *, avm_nv: int = 1000) -> Path:
    """SCP-ECG (EN 1064, protocol 2.0) with Sections 0, 3 and 6: rhythm data as plain 16-bit amplitudes (no
    Huffman table: Section 2 absent; no reference-beat subtraction, no bimodal compression)."""
    import binascii
    import struct

    counts = [np.round(lead * 1e6 / avm_nv).astype("<i2") for lead in x_mv]
    n = x_mv.shape[1]
    sec3 = struct.pack("<BB", len(names), (len(names) << 3) | 0x04) + b"".join(
        struct.pack("<IIB", 1, n, _SCP_LEAD_CODES[name]) for name in names
    )
    sec6 = (
        struct.pack("<HHBB", avm_nv, round(1e6 / fs), 0, 0)
        + b"".join(struct.pack("<H", 2 * n) for _ in names)
        + b"".join(c.tobytes() for c in counts)
    )
    bodies = {3: _scp_section(3, sec3), 6: _scp_section(6, sec6)}
    n_pointers = 12
    sec0_len = 16 + 10 * n_pointers
    offset = 6 + sec0_len  # 0-based offset of the next section
    pointers, placed = [struct.pack("<HII", 0, sec0_len, 7)], []
    for sid in range(1, n_pointers):
        if sid in bodies:
            pointers.append(struct.pack("<HII", sid, len(bodies[sid]), offset + 1))
            placed.append(bodies[sid])
            offset += len(bodies[sid])
        else:
            pointers.append(struct.pack("<HII", sid, 0, 0))
    record = _scp_section(0, b"".join(pointers)) + b"".join(placed)
    rest = struct.pack("<I", 6 + len(record)) + record
    path.write_bytes(struct.pack("<H", binascii.crc_hqx(rest, 0xFFFF)) + rest)
    return path
