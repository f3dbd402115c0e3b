"""Lead-name matching: map the channel names found in a file onto the 12 canonical leads.

Matching is case-insensitive and ignores spaces, underscores, dots, a leading ``lead``/``ECG``/``EKG`` word and a
trailing unit in brackets, so ``"lead I"``, ``"ECG I"``, ``"I (mV)"``, ``"DI"``, ``"D1"`` all mean lead I, and
PTB-XL's ``"AVR"`` means aVR. A leading minus (``"-aVR"``, Cabrera display) means an inverted lead: it is negated
back and noted. Chest leads may be named ``V1``-``V6`` or ``C1``-``C6``.

Missing limb leads are derived when two limb leads are present (8-lead storage keeps only I, II, V1-V6):
III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2 (noted). Chest leads are independent and
cannot be derived: a file missing one is refused with the reason.

``MLII`` / ``MLI`` / ``MLIII`` (the *modified* limb leads of Holter / ambulatory recordings such as MIT-BIH) are
deliberately **not** aliases: their electrodes sit on the torso, so they are not the limb leads of a standard
12-lead ECG; a file using them is refused with a hint to rename the channels if they really are standard leads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ecgimn.constants import LEADS, N_LEADS
from ecgimn.errors import InputError


def _build_aliases() -> dict[str, str]:
    aliases = {lead.lower(): lead for lead in LEADS}
    for roman, digit in (("i", "1"), ("ii", "2"), ("iii", "3")):
        lead = roman.upper()
        aliases.update({f"d{roman}": lead, f"d{digit}": lead})
    for k in range(1, 7):
        aliases[f"c{k}"] = f"V{k}"
    return aliases


#: Normalised alias (see :func:`normalize_lead_name`) -> canonical lead name. A leading ``-`` inverts a lead.
LEAD_ALIASES: dict[str, str] = _build_aliases()

#: Digits accepted only after a ``lead``/``ECG`` word ("Lead 2" -> II), never on their own.
_DIGIT_LEADS = {"1": "I", "2": "II", "3": "III"}
_PREFIX = re.compile(r"^(?:lead|ecg|ekg)(?=[\s_\-:.\d]|$)")
_UNIT_SUFFIX = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]\s*$")
_MINUSES = ("-", "\u2212", "\u2013")
_MODIFIED_LEADS = {"mli", "mlii", "mliii", "ml1", "ml2", "ml3"}


def normalize_lead_name(name: object) -> tuple[str, bool, bool]:
    """Return ``(key, inverted, had_prefix)`` for a channel name: lower-case key without decoration."""
    s = str(name).strip()
    for m in _MINUSES[1:]:
        s = s.replace(m, "-")
    s = _UNIT_SUFFIX.sub("", s).strip().casefold()
    inverted = s.startswith("-")
    s = s.lstrip("-").strip()
    prefixed = _PREFIX.match(s)
    if prefixed:
        rest = s[prefixed.end() :]
        inverted = inverted or re.match(r"\s+-", rest) is not None  # "ECG -aVR" (but "ECG-aVR" is aVR)
        s = rest.lstrip(" \t_-:.")
    key = re.sub(r"[\s_.]+", "", s)
    return key, inverted, bool(prefixed)


def canonical_lead(name: object) -> tuple[str | None, bool]:
    """Canonical lead for a channel name and whether it is inverted; ``(None, False)`` when not a 12-lead lead."""
    key, inverted, prefixed = normalize_lead_name(name)
    lead = LEAD_ALIASES.get(key) or (_DIGIT_LEADS.get(key) if prefixed else None)
    return (lead, inverted) if lead else (None, False)


#: Each limb lead as a combination ``(a, b)`` of leads I and II (Einthoven's and Goldberger's equations):
#: III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2. Any two limb leads determine the other four.
LIMB_LEADS: dict[str, tuple[float, float]] = {
    "I": (1.0, 0.0), "II": (0.0, 1.0), "III": (-1.0, 1.0),
    "aVR": (-0.5, -0.5), "aVL": (1.0, -0.5), "aVF": (-0.5, 1.0),
}  # fmt: skip
#: Index in ``match_leads`` results of a lead that is not in the file but derived from two other limb leads.
DERIVED = -1


def limb_derivation(present: Sequence[str]) -> tuple[str, str, dict[str, tuple[float, float]]] | None:
    """How to derive the missing limb leads from two present ones.

    Returns ``(p, q, coefs)`` with ``lead = a * p + b * q`` for each missing limb lead ``lead -> (a, b)``
    (``p, q`` = I and II when both are present), or ``None`` when fewer than two limb leads are present.
    """
    limb = [lead for lead in LIMB_LEADS if lead in set(present)]
    if len(limb) < 2:
        return None
    p, q = limb[0], limb[1]  # no two of the six limb-lead axes are parallel: any pair is a basis
    basis = np.array([LIMB_LEADS[p], LIMB_LEADS[q]]).T  # columns: p and q in (I, II) coordinates
    inv = np.linalg.inv(basis)
    coefs = {
        lead: tuple(float(c) + 0.0 for c in inv @ np.array(v))  # + 0.0: no -0.0
        for lead, v in LIMB_LEADS.items()
        if lead not in limb
    }
    return p, q, coefs  # type: ignore[return-value]


def _formula(lead: str, p: str, q: str, ab: tuple[float, float]) -> str:
    terms = sorted(((c, n) for c, n in zip(ab, (p, q)) if c), key=lambda t: t[0] < 0)  # positive term first
    out = ""
    for k, (c, n) in enumerate(terms):
        sign = "-" if c < 0 else ("+" if k else "")
        mag = abs(c)
        factor = "" if abs(mag - 1) < 1e-9 else f"{mag:.4g}*"
        out += f"{' ' if k else ''}{sign}{' ' if k else ''}{factor}{n}"
    return f"{lead} = {out}"


def match_leads(names: Sequence[str], *, source: str = "input") -> tuple[list[int], list[float], list[str]]:
    """Find the 12 canonical leads among channel names.

    Returns ``(indices, signs, notes)``: for each lead of ``LEADS``, the channel index to take (or
    :data:`DERIVED` for a limb lead that is missing but follows from two present limb leads, see
    :func:`derive_limb_leads`) and ``+1``/``-1`` (inverted channel). Unrecognised extra channels are dropped
    with a note; missing leads that cannot be derived, duplicate leads and 12 unrecognised names raise
    :class:`InputError`.
    """
    names = [str(n) for n in names]
    direct: dict[str, int] = {}
    inverted: dict[str, int] = {}
    unknown: list[str] = []
    for i, name in enumerate(names):
        lead, inv = canonical_lead(name)
        if lead is None:
            unknown.append(name)
            continue
        table = inverted if inv else direct
        if lead in table:
            raise InputError(
                f"{source}: channels {names[table[lead]]!r} and {name!r} both map to lead {lead}; "
                "keep one of them or pass lead_names (--lead-names) to name every channel"
            )
        table[lead] = i
    found = [lead for lead in LEADS if lead in direct or lead in inverted]
    missing = [lead for lead in LEADS if lead not in found]
    derivation = limb_derivation(found) if missing else None
    derivable = set(derivation[2]) if derivation else set()
    if set(missing) - derivable:
        raise InputError(_missing_message(source, names, unknown, missing, derivable, found))
    indices: list[int] = []
    signs: list[float] = []
    notes: list[str] = []
    for lead in LEADS:
        if lead in direct:
            indices.append(direct[lead])
            signs.append(1.0)
        elif lead in inverted:
            indices.append(inverted[lead])
            signs.append(-1.0)
            notes.append(f"channel {names[inverted[lead]]!r} is inverted lead {lead}; negated back to {lead}")
        else:
            indices.append(DERIVED)
            signs.append(1.0)
    if derivation:
        p, q, coefs = derivation
        formulas = "; ".join(_formula(lead, p, q, coefs[lead]) for lead in LEADS if lead in missing)
        notes.append(
            f"lead(s) {', '.join(missing)} not in the file; derived exactly from {p} and {q} ({formulas})"
        )
    dropped = [names[i] for lead, i in inverted.items() if lead in direct] + unknown
    if dropped:
        notes.append(f"dropped non-12-lead channel(s): {', '.join(dropped)}")
    present = [i for i in indices if i != DERIVED]
    if present != sorted(present) or (not missing and indices != list(range(N_LEADS))):
        notes.append(f"leads reordered to {', '.join(LEADS)} (file order: {', '.join(names)})")
    return indices, signs, notes


def _missing_message(
    source: str,
    names: list[str],
    unknown: list[str],
    missing: list[str],
    derivable: set[str],
    found: list[str],
) -> str:
    hint = ""
    modified = [n for n in unknown if normalize_lead_name(n)[0] in _MODIFIED_LEADS]
    if modified:
        hint = (
            f"; {', '.join(modified)} are modified (Holter) limb leads, not standard 12-lead leads — "
            "rename them only if they really are standard leads"
        )
    why = []
    chest = [lead for lead in missing if lead not in LIMB_LEADS]
    limb = [lead for lead in missing if lead in LIMB_LEADS and lead not in derivable]
    if chest:
        why.append(f"{', '.join(chest)}: chest leads are independent and cannot be derived from other leads")
    if limb:
        have = [lead for lead in found if lead in LIMB_LEADS]
        why.append(
            f"{', '.join(limb)}: limb leads are derived only from two other limb leads (e.g. I and II), and the "
            f"file has {', '.join(have) if have else 'none'}"
        )
    seen = f"unrecognised channel names {unknown}" if unknown else "no other channels"
    return (
        f"{source}: a 12-lead ECG is needed but lead(s) {', '.join(missing)} are missing ({'; '.join(why)}; "
        f"{seen}; channels: {names}); accepted names: {', '.join(LEADS)} (case-insensitive; also 'lead I', "
        f"'ECG I', 'DI'/'D1', 'C1'-'C6', '-aVR' for inverted){hint}. Rename the channels or pass lead_names "
        "(--lead-names) in file order"
    )


def derive_limb_leads(x: np.ndarray, indices: Sequence[int]) -> np.ndarray:
    """Fill the rows of a ``(12, L)`` signal in ``LEADS`` order whose index is :data:`DERIVED` (in place)."""
    missing = [LEADS[k] for k, i in enumerate(indices) if i == DERIVED]
    if not missing:
        return x
    derivation = limb_derivation([lead for lead in LEADS if lead not in missing])
    if derivation is None or set(missing) - set(derivation[2]):
        raise ValueError(f"cannot derive {missing}")  # match_leads refuses these first
    p, q, coefs = derivation
    xp, xq = x[LEADS.index(p)], x[LEADS.index(q)]
    for lead in missing:
        a, b = coefs[lead]
        x[LEADS.index(lead)] = a * xp + b * xq
    return x


def map_leads(
    signal: np.ndarray, names: Sequence[str] | None, *, source: str = "input"
) -> tuple[np.ndarray, list[str]]:
    """Reorder a ``(C, L)`` signal with channel ``names`` into ``(12, L)`` canonical order; returns ``(signal, notes)``.

    Without names the signal must have exactly 12 channels, assumed to be in canonical order (noted).
    """
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 2:
        raise InputError(f"{source}: expected a 2-D (channels, samples) signal, got shape {signal.shape}")
    if names is None:
        if signal.shape[0] != N_LEADS:
            raise InputError(
                f"{source}: a 12-lead ECG is needed; found {signal.shape[0]} channel(s) and no lead names "
                "(name the channels in the file or pass lead_names / --lead-names)"
            )
        return signal, [f"no lead names in the file; assumed the standard order {', '.join(LEADS)}"]
    if len(names) != signal.shape[0]:
        raise InputError(f"{source}: {len(names)} lead names given for {signal.shape[0]} channels")
    indices, signs, notes = match_leads(names, source=source)
    out = np.zeros((N_LEADS, signal.shape[1]))
    for k, (i, sign) in enumerate(zip(indices, signs)):
        if i != DERIVED:
            out[k] = signal[i] * sign
    return derive_limb_leads(out, indices), notes
