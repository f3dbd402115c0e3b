"""Shared fixtures: the read-only ``../shared`` material and a small synthetic PTB-XL folder with real WFDB files."""

from __future__ import annotations

import io
import os

# One compute thread per test process, set before numpy or torch start their thread pools (children inherit it).
# The suite is one process running many small operations: extra OpenMP threads make it no faster, and on a shared
# machine they spin while waiting and multiply its CPU time (one integration test: 55 s with 2 threads, 9 s with
# 1). Export OMP_NUM_THREADS to choose another count.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import shutil  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import wfdb  # noqa: E402

#: ``../shared`` beside the repository checkout (real PTB-XL subset, full metadata, benchmark reference)
SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"

#: header lead names as PTB-XL writes them (canonical order, upper-case aVR/aVL/aVF)
PTBXL_LEAD_NAMES = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]

#: (code, description, diagnostic, form, rhythm, diagnostic_class, diagnostic_subclass): real PTB-XL rows
SYNTHETIC_STATEMENTS = [
    ("NDT", "non-diagnostic T abnormalities", 1.0, 1.0, None, "STTC", "STTC"),
    ("NST_", "non-specific ST changes", 1.0, 1.0, None, "STTC", "NST_"),
    ("NORM", "normal ECG", 1.0, None, None, "NORM", "NORM"),
    ("IMI", "inferior myocardial infarction", 1.0, None, None, "MI", "IMI"),
    ("ASMI", "anteroseptal myocardial infarction", 1.0, None, None, "MI", "AMI"),
    ("INJIN", "subendocardial injury in inferior leads", 1.0, None, None, "MI", "IMI"),
    ("LVH", "left ventricular hypertrophy", 1.0, None, None, "HYP", "LVH"),
    ("IRBBB", "incomplete right bundle branch block", 1.0, None, None, "CD", "IRBBB"),
    ("CLBBB", "complete left bundle branch block", 1.0, None, None, "CD", "CLBBB"),
    ("ABQRS", "abnormal QRS", None, 1.0, None, None, None),
    ("LVOLT", "low QRS voltages in the frontal and horizontal leads", None, 1.0, None, None, None),
    ("SR", "sinus rhythm", None, None, 1.0, None, None),
    ("AFIB", "atrial fibrillation", None, None, 1.0, None, None),
    ("SVARR", "supraventricular arrhythmia", None, None, 1.0, None, None),
]

#: scp_codes of synthetic record i (ecg_id i uses pattern (i - 1) % 10); INJIN and SVARR never occur
SYNTHETIC_PATTERNS: list[dict[str, float]] = [
    {"NORM": 100.0, "SR": 0.0},
    {"IMI": 80.0, "SR": 0.0},
    {"NORM": 100.0, "IMI": 50.0},
    {"NDT": 100.0, "AFIB": 0.0},
    {"LVH": 100.0, "NST_": 50.0, "SR": 0.0},
    {"CLBBB": 100.0},
    {"SR": 0.0},
    {"NORM": 100.0, "LVOLT": 0.0, "SR": 0.0},
    {"IRBBB": 100.0, "SR": 0.0},
    {"ASMI": 100.0, "ABQRS": 0.0},
]


def synthetic_signal(ecg_id: int, fs: int) -> np.ndarray:
    """The (L, 12) mV signal written for a synthetic record: lead j has offset 0.1*(j+1) + 0.001*ecg_id plus a sine."""
    t = np.arange(int(10 * fs)) / fs
    leads = np.arange(12)
    return 0.1 * (leads + 1) + 0.001 * ecg_id + 0.5 * np.sin(2 * np.pi * t[:, None] + leads)


def write_wfdb(
    stem: Path, signal: np.ndarray, fs: int, sig_name: Sequence[str] = PTBXL_LEAD_NAMES, units: str = "mV"
) -> None:
    """Write ``signal`` (L, n_sig) as a WFDB record ``stem``.hea/.dat (format 16, 1 uV resolution, like PTB-XL).

    The files are those ``wfdb.wrsamp`` writes, byte for byte (test_wfdb16 checks it), written with NumPy: wrsamp
    spends ~30 ms per record building its header with pandas, and the suite writes a few hundred records.
    """
    stem.parent.mkdir(parents=True, exist_ok=True)
    n = signal.shape[1]
    gain = 1000.0 if units.lower() == "mv" else 1.0
    p_signal = np.asarray(signal, dtype=np.float64)
    digital = np.round(p_signal * gain)
    digital[np.isnan(p_signal)] = -32768  # WFDB's missing sample in format 16
    if not isinstance(fs, (int, np.integer)) or (np.abs(digital[~np.isnan(p_signal)]) > 32767).any():
        wfdb.wrsamp(stem.name, fs=fs, units=[units] * n, sig_name=list(sig_name), p_signal=p_signal,
                    fmt=["16"] * n, adc_gain=[gain] * n, baseline=[0] * n, write_dir=str(stem.parent))  # fmt: skip
        return  # wfdb formats the rate, or refuses the values, its own way
    digital = digital.astype(np.int64)
    checksums = digital.sum(axis=0) % 65536
    lines = [f"{stem.name} {n} {fs} {len(digital)}"] + [
        f"{stem.name}.dat 16 {gain}(0)/{units} 16 0 {digital[0, j]} {checksums[j]} 0 {name}"
        for j, name in enumerate(sig_name)
    ]
    Path(f"{stem}.hea").write_text("\n".join(lines) + "\n")
    digital.astype("<i2").tofile(f"{stem}.dat")


def make_synthetic_ptbxl(root: Path, n_records: int = 20, rates: Sequence[int] = (100, 500)) -> Path:
    """Write a PTB-XL-shaped folder: metadata, statements and real WFDB records at ``rates``.

    ecg_id i (1..n_records) has the scp_codes ``SYNTHETIC_PATTERNS[(i - 1) % 10]``, strat_fold ``(i - 1) % 10 + 1``
    and the signal :func:`synthetic_signal`. Returns ``root``.
    """
    root.mkdir(parents=True, exist_ok=True)
    columns = ["description", "diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass"]
    statements = pd.DataFrame(
        [s[1:] for s in SYNTHETIC_STATEMENTS], columns=columns, index=[s[0] for s in SYNTHETIC_STATEMENTS]
    )
    statements.to_csv(root / "scp_statements.csv")
    rows = []
    for i in range(1, n_records + 1):
        folder = f"{(i // 1000) * 1000:05d}"
        rows.append(
            {
                "ecg_id": i,
                "patient_id": float(1000 + i),
                "age": float(40 + i % 50),
                "sex": i % 2,
                "scp_codes": str(SYNTHETIC_PATTERNS[(i - 1) % 10]),
                "strat_fold": (i - 1) % 10 + 1,
                "filename_lr": f"records100/{folder}/{i:05d}_lr",
                "filename_hr": f"records500/{folder}/{i:05d}_hr",
            }
        )
        for fs in rates:
            column = "filename_lr" if fs == 100 else "filename_hr"
            write_wfdb(root / rows[-1][column], synthetic_signal(i, fs), fs)
    pd.DataFrame(rows).to_csv(root / "ptbxl_database.csv", index=False)
    return root


def make_mixed_ptbxl(root: Path) -> Path:
    """A 60-record 100 Hz :func:`make_synthetic_ptbxl` folder whose label patterns are spread over the folds (fold of
    ecg_id i: ``(i - 1) // 6 % 10 + 1``), so folds 9 and 10 hold every class: enough to train and select on."""
    make_synthetic_ptbxl(root, n_records=60, rates=(100,))
    meta = pd.read_csv(root / "ptbxl_database.csv")
    meta["strat_fold"] = (meta["ecg_id"] - 1) // 6 % 10 + 1
    meta.to_csv(root / "ptbxl_database.csv", index=False)
    return root


#: the superdiagnostic classes, in the order the data layer builds them
SUPERCLASSES = ["CD", "HYP", "MI", "NORM", "STTC"]


def write_random_checkpoint(
    path: Path,
    name: str = "imn-1d",
    classes: Sequence[str] = tuple(SUPERCLASSES),
    task: str = "superdiagnostic",
    **overrides: object,
) -> Path:
    """A random-init checkpoint in the training loop's format (100 Hz, 10 s window, 5 s stride, per-record z-score)."""
    import torch

    from ecgimn.data import Standardizer
    from ecgimn.inference.checkpoint import save_checkpoint
    from ecgimn.models import create_model

    torch.manual_seed(0)
    model = create_model(name, num_classes=len(classes), **overrides)
    return save_checkpoint(path, {
        "state_dict": model.state_dict(), "model_config": dict(model.config),
        "interpretable": bool(model.interpretable), "task": task, "class_names": list(classes),
        "fs": 100, "standardizer": Standardizer("per_record").to_dict(), "window_samples": 1000,
        "stride_samples": 500,
    })  # fmt: skip


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A deflated .zip archive of ``{name: content}`` (names as given: folders, ``..``, anything)."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def load_script(path: Path) -> ModuleType:
    """Import a file of ``benchmarks/`` or ``scripts/`` by its path (they are not a package), as module ``path.stem``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def ecg_like(n: int = 1000, fs: float = 100, seed: int = 0) -> np.ndarray:
    """(12, n) mV: QRS-like spikes every 0.8 s, a T wave, per-lead gains and a little noise."""
    t = np.arange(n) / fs
    phase = (t % 0.8) - 0.3
    beat = 1.2 * np.exp(-((phase / 0.02) ** 2)) + 0.25 * np.exp(-(((phase - 0.25) / 0.06) ** 2))
    gains = np.linspace(-1.0, 1.5, 12)[:, None]
    noise = 0.02 * np.random.default_rng(seed).standard_normal((12, n))
    return (gains * beat + noise).astype(np.float32)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Garbage collection tuned for one long test process: the objects alive once the tests are collected (torch,
    numpy, pandas and the rest, ~400,000) are frozen out of the collector's passes, and the youngest generation is
    collected every 10,000 allocations instead of 700. With the defaults the suite spent ~10 s of CPU in the
    collector, 8 s of it re-traversing those imported objects in full passes; tuned, ~5 s (a measurement with
    gc.callbacks over one run). Cyclic garbage is still collected, only less often; nothing a test checks depends
    on when."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


@pytest.fixture(scope="session", autouse=True)
def _tmp_signal_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point the default signal cache (``ECGIMN_CACHE``) at a temporary folder: tests never touch ~/.cache."""
    old = os.environ.get("ECGIMN_CACHE")
    os.environ["ECGIMN_CACHE"] = str(tmp_path_factory.mktemp("ecgimn-cache"))
    yield
    if old is None:
        os.environ.pop("ECGIMN_CACHE", None)
    else:
        os.environ["ECGIMN_CACHE"] = old


#: dots per inch of the pictures the tests save (the package draws at 150): every drawing step runs, on 1/36 of
#: the pixels. A test module that sets ``FULL_RESOLUTION_FIGURES = True`` (test_viz) saves at the package's own.
TEST_FIGURE_DPI = 25


@pytest.fixture(autouse=True)
def _draft_figures(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Save pictures at :data:`TEST_FIGURE_DPI` unless the test module asks for full resolution."""
    if getattr(request.module, "FULL_RESOLUTION_FIGURES", False):
        return
    from ecgimn.viz import ecg_plot

    monkeypatch.setitem(ecg_plot.save_figure.__kwdefaults__, "dpi", TEST_FIGURE_DPI)


def zeros_npz(name: str, shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """A deflated .npz holding one array of zeros, ``name`` of ``shape``, as ``np.savez_compressed`` would store it,
    built without compressing every zero: the deflate stream of one run of zeros (after a full flush it depends on
    nothing before it) is repeated, so a 480 MB array costs a fraction of a second instead of seconds."""
    import struct
    import zlib

    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": dtype, "fortran_order": False, "shape": shape})
    n_zero = int(np.prod(shape)) * np.dtype(dtype).itemsize
    chunk = 1 << 20
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero_run = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    stream = [c.compress(head.getvalue()) + c.flush(zlib.Z_FULL_FLUSH)]
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream.append(zero_run * (n_zero // chunk))
    stream.append(c.compress(bytes(n_zero % chunk)) + c.flush())
    data = b"".join(stream)
    crc = zlib.crc32(head.getvalue())
    for _ in range(n_zero // chunk):
        crc = zlib.crc32(bytes(chunk), crc)
    crc = zlib.crc32(bytes(n_zero % chunk), crc)
    member = f"{name}.npy".encode()
    size = len(head.getvalue()) + n_zero
    fields = struct.pack(
        "<HHHHHIII", 20, 0, 8, 0, 0x21, crc, len(data), size
    )  # version .. sizes (DOS date 1980-01-01)
    local = b"PK\x03\x04" + fields + struct.pack("<HH", len(member), 0) + member
    central = (
        b"PK\x01\x02"
        + struct.pack("<H", 20)
        + fields
        + struct.pack("<HHHHHII", len(member), 0, 0, 0, 0, 0, 0)
    )
    central += member
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    return local + data + central + end


@pytest.fixture(scope="session")
def npz_bomb() -> bytes:
    """An .npz of a few hundred KB whose array declares 12 x 10 M float32 samples (480 MB once decompressed)."""
    bomb = zeros_npz("signal", (12, 10_000_000))
    assert len(bomb) < 1_000_000
    return bomb


@pytest.fixture(scope="session")
def _synthetic_ptbxl_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_ptbxl(tmp_path_factory.mktemp("synthetic") / "ptbxl")


@pytest.fixture
def synthetic_ptbxl(tmp_path: Path, _synthetic_ptbxl_template: Path) -> Path:
    """A fresh 20-record synthetic PTB-XL folder (100 and 500 Hz) in tmp, free to modify; see make_synthetic_ptbxl."""
    return Path(shutil.copytree(_synthetic_ptbxl_template, tmp_path / "ptbxl"))


@pytest.fixture
def make_ptbxl() -> Callable[..., Path]:
    """The :func:`make_synthetic_ptbxl` builder, for folders with other sizes or rates."""
    return make_synthetic_ptbxl


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(
            f"{path} not found: the shared PTB-XL material is expected at ../shared beside the checkout"
        )
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` (skips the test when absent)."""
    return _need(SHARED_DIR)


@pytest.fixture(scope="session")
def shared_ptbxl(shared_dir: Path) -> Path:
    """The real PTB-XL subset (ecg_id 1-1999; 500 Hz for 1-500 only)."""
    return _need(shared_dir / "ptbxl")


@pytest.fixture(scope="session")
def shared_metadata(shared_dir: Path) -> Path:
    """The full official metadata (v1.0.1, 21,837 rows), no signals."""
    return _need(shared_dir / "ptbxl-metadata")


@pytest.fixture(scope="session")
def benchmark_reference(shared_dir: Path) -> Path:
    """Outputs of the Strodthoff et al. 2021 benchmark (y_test, predictions, bootstrap ids, classes.json)."""
    return _need(shared_dir / "benchmark-reference")
