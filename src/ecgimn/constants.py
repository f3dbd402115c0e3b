"""Constants every module agrees on."""

#: Canonical lead order of every ``Recording`` and every model input.
LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
N_LEADS = len(LEADS)

#: Benchmark label sets (Strodthoff et al. 2021) and the seed paper's binary tasks.
BENCHMARK_TASKS: tuple[str, ...] = ("all", "diagnostic", "subdiagnostic", "superdiagnostic", "form", "rhythm")
BINARY_TASKS: tuple[str, ...] = ("norm-vs-mi", "norm-vs-sttc", "norm-vs-cd", "norm-vs-hyp")
TASKS: tuple[str, ...] = BENCHMARK_TASKS + BINARY_TASKS

#: PTB-XL protocol: folds 1-8 train, 9 validation, 10 test.
SPLIT_FOLDS: dict[str, tuple[int, ...]] = {"train": (1, 2, 3, 4, 5, 6, 7, 8), "val": (9,), "test": (10,)}
TEST_FOLD = 10

#: PTB-XL records are 10 s long.
RECORD_SECONDS = 10.0
SAMPLING_RATES: tuple[int, ...] = (100, 500)

PTBXL_CITATION = (
    "Wagner, P., Strodthoff, N., Bousseljot, R.-D., Kreiseler, D., Lunze, F.I., Samek, W., Schaeffter, T. (2020). "
    "PTB-XL, a large publicly available electrocardiography dataset. Scientific Data 7, 154. "
    "PhysioNet, doi:10.13026/kfzx-aw45."
)

#: the waves of a beat an explanation is split into (:mod:`ecgimn.explain.waves`), in label order
WAVES: tuple[str, ...] = ("P", "PR", "QRS", "ST", "T", "TP", "unassigned")
