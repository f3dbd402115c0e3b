"""Readers for the files ECG carts and hospital systems export: GE MUSE XML, HL7 aECG XML, Philips Sierra XML,
DICOM 12-lead ECG waveform and SCP-ECG.

Each returns :class:`~ecgimn.io.raw.Raw` channels (names, rate, units as the file states them) plus acquisition
metadata (format, device, date/time, filter settings; never patient data); the shared final step of
:mod:`ecgimn.io.readers` maps leads (deriving III, aVR, aVL, aVF when only I, II, V1-V6 are stored), converts
units and cleans the signal. XML is parsed with ``defusedxml`` (no entity expansion, no external entities)
and its size is bounded; an ``.xml`` file is recognised by its root element, not its name.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import numpy as np

from ecgimn.errors import InputError
from ecgimn.io.raw import Raw

#: largest XML / DICOM / SCP file read (a 10 s 12-lead export is well under 2 MB; a long Holter-style file
#: should be converted to WFDB or EDF)
MAX_FILE_BYTES = 64 * 1024 * 1024
_UNITS = {
    "microvolts": "uV",
    "microvolt": "uV",
    "uv": "uV",
    "millivolts": "mV",
    "millivolt": "mV",
    "mv": "mV",
}


def _check_size(p: Path, src: str) -> None:
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(
            f"{src}: {size / 2**20:.0f} MB is too large for an ECG export (at most {MAX_FILE_BYTES / 2**20:g} MB); "
            "convert long recordings to WFDB or EDF"
        )


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _parse_xml(p: Path, src: str) -> Element:
    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    _check_size(p, src)
    try:
        root = SafeET.parse(str(p)).getroot()
    except DefusedXmlException as exc:
        raise InputError(f"{src}: XML with entity or DTD declarations is refused (unsafe): {exc}") from exc
    except Exception as exc:
        raise InputError(f"{src}: not well-formed XML ({type(exc).__name__}: {exc})") from exc
    for el in root.iter():  # drop namespaces: HL7 aECG uses urn:hl7-org:v3
        el.tag = _local(el.tag)
        if any("}" in k for k in el.attrib):
            el.attrib = {_local(k) if "}" in k else k: v for k, v in el.attrib.items()}
    return root


def _text(el: Element | None, path: str, default: str = "") -> str:
    found = el.find(path) if el is not None else None
    return (found.text or "").strip() if found is not None and found.text else default


def _number(text: str, what: str, src: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{src}: {what} is not a number ({text!r})") from None


def _b64(text: str, what: str, src: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{src}: {what} is not valid Base64 ({exc})") from exc


def _meta(**items: Any) -> dict[str, str]:
    return {k: str(v) for k, v in items.items() if v not in (None, "")}


# ---------------------------------------------------------------------------------------------------- XML dispatch


def read_xml(p: Path, src: str) -> Raw:
    """An ``.xml`` ECG export, recognised by its root element."""
    root = _parse_xml(p, src)
    reader = _XML_ROOTS.get(root.tag)
    if reader is None:
        raise InputError(
            f"{src}: XML with root element <{root.tag}> is not a supported ECG format; accepted: GE MUSE "
            "(<RestingECG>), HL7 aECG (<AnnotatedECG>), Philips Sierra (<restingecgdata>)"
        )
    return reader(root, src)


# --------------------------------------------------------------------------------------------------- GE MUSE


def _muse(root: Element, src: str) -> Raw:
    """GE MUSE ``RestingECG``: the ``Rhythm`` waveform (the ``Median`` beat is not an ECG recording).

    Each ``LeadData`` is Base64 little-endian signed integers (``LeadSampleSize`` bytes) times
    ``LeadAmplitudeUnitsPerBit`` in ``LeadAmplitudeUnits`` (µV); MUSE usually stores 8 leads (I, II, V1-V6).
    """
    waves = root.findall("Waveform")
    rhythm = [w for w in waves if _text(w, "WaveformType").lower() == "rhythm"]
    if not rhythm:
        kinds = ", ".join(_text(w, "WaveformType") or "?" for w in waves) or "none"
        raise InputError(
            f"{src}: the GE MUSE file has no Rhythm waveform (found: {kinds}); a median beat cannot be classified"
        )
    wf = rhythm[0]
    base = _number(_text(wf, "SampleBase", "0"), "SampleBase", src)
    fs = base * 10 ** _number(_text(wf, "SampleExponent", "0"), "SampleExponent", src)
    if not fs > 0:
        raise InputError(f"{src}: the GE MUSE Rhythm waveform has no valid SampleBase (sampling rate)")
    channels, names, units = [], [], []
    for ld in wf.findall("LeadData"):
        size = int(_number(_text(ld, "LeadSampleSize", "2"), "LeadSampleSize", src))
        if size not in (1, 2, 4):
            raise InputError(f"{src}: LeadSampleSize {size} is not supported (1, 2 or 4 bytes)")
        data = _b64(_text(ld, "WaveFormData"), f"lead {_text(ld, 'LeadID')} WaveFormData", src)
        counts = np.frombuffer(data[: len(data) // size * size], dtype=f"<i{size}").astype(np.float64)
        scale = _number(_text(ld, "LeadAmplitudeUnitsPerBit", "nan"), "LeadAmplitudeUnitsPerBit", src)
        unit = _UNITS.get(_text(ld, "LeadAmplitudeUnits").lower())
        if not np.isfinite(scale) or unit is None:
            raise InputError(
                f"{src}: lead {_text(ld, 'LeadID')} has no LeadAmplitudeUnitsPerBit / LeadAmplitudeUnits; "
                "the amplitude of a GE MUSE file cannot be known without them"
            )
        channels.append(counts * scale)
        names.append(_text(ld, "LeadID"))
        units.append(unit)
    if not channels:
        raise InputError(f"{src}: the GE MUSE Rhythm waveform holds no LeadData")
    test = root.find("TestDemographics")
    hp = _text(wf, "HighPassFilter")
    return Raw(
        channels, names=names, fs=[fs] * len(channels), units=units,
        metadata=_meta(
            format="GE MUSE XML", waveform="Rhythm", device=_text(test, "AcquisitionDevice"),
            software=_text(test, "AcquisitionSoftwareVersion"),
            acquisition_date=_text(test, "AcquisitionDate"), acquisition_time=_text(test, "AcquisitionTime"),
            highpass_hz=f"{float(hp) / 100:g}" if hp.replace(".", "", 1).isdigit() else "",  # stored in 0.01 Hz
            lowpass_hz=_text(wf, "LowPassFilter"), notch_hz=_text(wf, "ACFilter"),
        ),
    )  # fmt: skip


# -------------------------------------------------------------------------------------------------- HL7 aECG


def _aecg(root: Element, src: str) -> Raw:
    """HL7 aECG ``AnnotatedECG``: the rhythm ``series``; each lead ``sequence`` is ``origin + scale * digits``
    (SLIST_PQ) and the time ``sequence`` gives the sampling increment (GLIST)."""
    series = root.findall("component/series") or list(root.iter("series"))
    rhythm = [s for s in series if s.find("code") is not None and s.find("code").get("code") == "RHYTHM"]
    chosen = (rhythm or series)[:1]
    if not chosen:
        raise InputError(f"{src}: the HL7 aECG file has no <series> (no waveform)")
    s = chosen[0]
    fs = None
    channels, names, units = [], [], []
    # only the series' own sequences: a <derivation>/<derivedSeries> inside holds the representative beat
    for seq in s.findall("component/sequenceSet/component/sequence"):
        code = (seq.find("code").get("code") or "") if seq.find("code") is not None else ""
        value = seq.find("value")
        if value is None:
            continue
        if code.startswith("TIME_"):
            inc = value.find("increment")
            if inc is not None:
                step = _number(inc.get("value", "nan"), "time increment", src)
                scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6}.get(inc.get("unit", "s"))
                if scale is None or not step > 0:
                    raise InputError(f"{src}: unreadable time increment {inc.attrib}")
                fs = round(1.0 / (step * scale), 6)
            continue
        digits = value.find("digits")
        if digits is None or digits.text is None:
            continue
        origin = value.find("origin")
        scale_el = value.find("scale")
        scale = _number(scale_el.get("value", "1"), f"{code} scale", src) if scale_el is not None else 1.0
        offset = _number(origin.get("value", "0"), f"{code} origin", src) if origin is not None else 0.0
        unit = scale_el.get("unit") if scale_el is not None else None
        try:
            x = np.array(digits.text.split(), dtype=np.float64)
        except ValueError:
            raise InputError(f"{src}: lead {code}: <digits> must hold integers") from None
        channels.append(offset + scale * x)
        names.append(code.removeprefix("MDC_ECG_LEAD_"))
        units.append(_UNITS.get(str(unit).lower(), unit))
    if not channels:
        raise InputError(f"{src}: the HL7 aECG rhythm series holds no lead sequences")
    if fs is None:
        raise InputError(f"{src}: the HL7 aECG file has no TIME sequence with an increment (sampling rate)")
    low = root.find("effectiveTime/low")
    device = next((el.text for el in s.iter("manufacturerModelName") if el.text), "")
    return Raw(
        channels, names=names, fs=[fs] * len(channels), units=units,
        metadata=_meta(
            format="HL7 aECG", waveform="RHYTHM" if rhythm else "first series",
            acquisition_time=low.get("value") if low is not None else "", device=device,
        ),
    )  # fmt: skip


# --------------------------------------------------------------------------------------------- Philips Sierra

_SIERRA_LIMB = ["I", "II", "III", "aVR", "aVL", "aVF"]


def _sierra(root: Element, src: str) -> Raw:
    """Philips Sierra ``restingecgdata`` (SierraECG / PhilipsECG 1.03-1.04.02): ``parsedwaveforms``, Base64
    16-bit or plain text, optionally XLI-compressed (decoded with the ``sierraecg`` package; in XLI data
    III, aVR, aVL, aVF are residuals rebuilt from I and II); counts times ``resolution`` µV."""
    sig = root.find("dataacquisition/signalcharacteristics")
    parsed = root.find("waveforms/parsedwaveforms")
    if parsed is None or sig is None:
        raise InputError(f"{src}: the Philips Sierra file has no <parsedwaveforms> / <signalcharacteristics>")
    fs = _number(parsed.get("samplespersecond") or _text(sig, "samplingrate", "nan"), "sampling rate", src)
    duration_ms = _number(parsed.get("durationperchannel", "nan"), "durationperchannel", src)
    n = int(round(duration_ms * fs / 1000))
    resolution = _number(_text(sig, "resolution") or _text(sig, "signalresolution", "nan"), "resolution", src)
    labels = (parsed.get("leadlabels") or "").split()
    if not labels:
        count = int(_number(_text(sig, "numberchannelsallocated", "12"), "channel count", src))
        labels = (_SIERRA_LIMB + [f"V{k}" for k in range(1, 7)])[:count]
    labels = labels[: int(_number(parsed.get("numberofleads", str(len(labels))), "numberofleads", src))]
    encoding = parsed.get("dataencoding", "")
    compression = parsed.get("compressmethod") or parsed.get("compression") or ""
    text = parsed.text or ""
    if compression and compression.upper() != "XLI":
        raise InputError(f"{src}: Philips Sierra compression {compression!r} is not supported (XLI is)")
    if compression:
        from sierraecg.xli import xli_decode

        chunks = xli_decode(_b64(text, "parsedwaveforms", src), labels)
        if len(chunks) < len(labels) or min(len(c) for c in chunks[: len(labels)]) < n:
            raise InputError(f"{src}: the XLI data holds fewer leads or samples than the header says")
        arrays = [np.asarray(c[:n], dtype=np.int64) for c in chunks[: len(labels)]]
        if labels[:6] == _SIERRA_LIMB:  # residuals -> leads (integer arithmetic as the cart wrote them)
            i, ii = arrays[0], arrays[1]
            arrays[2] = iii = ii - i - arrays[2]
            arrays[3] = -arrays[3] - (i + ii) // 2
            arrays[4] = (i - iii) // 2 - arrays[4]
            arrays[5] = (ii + iii) // 2 - arrays[5]
    elif encoding == "Base64":
        values = np.frombuffer(_b64(text, "parsedwaveforms", src), dtype="<i2")
        arrays = _split(values, len(labels), n, src)
    elif encoding == "Plain":
        try:
            values = np.array(text.replace(",", " ").split(), dtype=np.int64)
        except ValueError:
            raise InputError(f"{src}: <parsedwaveforms> plain text must hold integers") from None
        arrays = _split(values, len(labels), n, src)
    else:
        raise InputError(
            f"{src}: Philips Sierra data encoding {encoding!r} is not supported (Base64 or Plain)"
        )
    acq = root.find("dataacquisition")
    band = root.find("reportinfo/reportbandwidth")
    doc = root.find("documentinfo")
    return Raw(
        [a.astype(np.float64) * resolution for a in arrays], names=labels, fs=[fs] * len(arrays),
        units=["uV"] * len(arrays),
        metadata=_meta(
            format=f"Philips Sierra XML {_text(doc, 'documentversion')}".strip(),
            compression=compression or "none", device=_text(acq, "machine"),
            acquisition_date=acq.get("date") if acq is not None else "",
            acquisition_time=acq.get("time") if acq is not None else "",
            highpass_hz=_text(band, "highpassfiltersetting"), lowpass_hz=_text(band, "lowpassfiltersetting"),
            notch_hz=_text(band, "notchfiltersetting"),
        ),
    )  # fmt: skip


def _split(values: np.ndarray, n_leads: int, n: int, src: str) -> list[np.ndarray]:
    if values.size < n_leads * n:
        raise InputError(f"{src}: <parsedwaveforms> holds {values.size} samples, {n_leads} x {n} expected")
    return list(values[: n_leads * n].reshape(n_leads, n).astype(np.int64))


_XML_ROOTS: dict[str, Callable[[Element, str], Raw]] = {
    "RestingECG": _muse, "AnnotatedECG": _aecg, "restingecgdata": _sierra,
}  # fmt: skip


# ------------------------------------------------------------------------------------------------------ DICOM


def read_dicom(p: Path, src: str) -> Raw:
    """DICOM waveform (12-lead / general ECG): the first multiplex group that is not a median beat; values
    from ``pydicom`` (baseline, sensitivity and correction applied) in each channel's sensitivity unit."""
    import pydicom

    _check_size(p, src)
    try:
        ds = pydicom.dcmread(str(p))
    except Exception as exc:
        raise InputError(f"{src}: not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
    groups = list(ds.get("WaveformSequence") or [])
    if not groups:
        raise InputError(f"{src}: the DICOM file holds no waveform (WaveformSequence); is it an image?")
    chosen = next(
        (
            k
            for k, g in enumerate(groups)
            if not re.search(r"median|beat", str(g.get("MultiplexGroupLabel", "")), re.I)
        ),
        None,
    )
    if chosen is None:
        raise InputError(f"{src}: the DICOM file holds only median beats, no rhythm waveform")
    g = groups[chosen]
    x = np.asarray(ds.waveform_array(chosen), dtype=np.float64).T
    names, units = [], []
    for ch in g.ChannelDefinitionSequence:
        source = (ch.get("ChannelSourceSequence") or [None])[0]
        names.append(str(source.get("CodeMeaning", "")) if source is not None else "")
        unit_seq = ch.get("ChannelSensitivityUnitsSequence") or []
        units.append(str(unit_seq[0].get("CodeValue")) if unit_seq else None)
    first = g.ChannelDefinitionSequence[0]
    fs = float(g.SamplingFrequency)
    return Raw(
        list(x), names=names, fs=[fs] * len(names), units=units,
        metadata=_meta(
            format="DICOM waveform", waveform=str(g.get("MultiplexGroupLabel", "")),
            device=" ".join(str(v) for v in (ds.get("Manufacturer"), ds.get("ManufacturerModelName")) if v),
            acquisition_time=str(ds.get("AcquisitionDateTime", "")),
            highpass_hz=str(first.get("FilterLowFrequency", "")), lowpass_hz=str(first.get("FilterHighFrequency", "")),
            notch_hz=str(first.get("NotchFilterFrequency", "")),
        ),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------- SCP-ECG


def read_scp(p: Path, src: str) -> Raw:
    """SCP-ECG (EN 1064): decoded by the optional ``ecgdatakit`` package (Huffman, reference-beat subtraction
    and bimodal compression are part of the standard; no small parser covers them)."""
    try:
        from ecgdatakit.parsing.parsers.scp_ecg import SCPECGParser
    except ImportError:
        raise InputError(
            f"{src}: reading SCP-ECG needs the optional package ecgdatakit (pip install 'ecgimn[scp]'); or "
            "convert the file to WFDB, EDF or CSV (e.g. with the cart's export, or ECG Toolkit's ECGTool)"
        ) from None
    import warnings

    _check_size(p, src)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            record = SCPECGParser().parse(p)
    except Exception as exc:
        raise InputError(f"{src}: cannot decode SCP-ECG ({type(exc).__name__}: {exc})") from exc
    notes = [f"SCP-ECG reader: {w.message}" for w in caught]  # e.g. a CRC mismatch: said, not hidden
    channels, names, fs, units = [], [], [], []
    for lead in record.leads:
        if lead.is_raw and not lead.resolution_unit:
            raise InputError(f"{src}: lead {lead.label} has no amplitude scale in the SCP-ECG file")
        physical = lead.to_physical() if lead.is_raw else lead
        channels.append(np.asarray(physical.samples, dtype=np.float64))
        names.append(lead.label)
        fs.append(float(lead.sampling_rate))
        units.append(physical.units or physical.resolution_unit)
    if not channels:
        raise InputError(f"{src}: the SCP-ECG file holds no leads")
    dev = record.recording.device
    return Raw(
        channels, names=names, fs=fs, units=units, notes=notes,
        metadata=_meta(
            format="SCP-ECG", device=" ".join(v for v in (dev.manufacturer, dev.model) if v),
            acquisition_time=record.recording.date.isoformat() if record.recording.date else "",
        ),
    )  # fmt: skip
