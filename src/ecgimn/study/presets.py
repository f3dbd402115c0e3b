"""Named study configurations: a model name plus :class:`~ecgimn.training.config.TrainConfig` overrides.

The presets are data (``presets.json`` beside this module); a user's JSON file ``{"name": {"model": ..., ...}}``
works the same way. ``{study}`` in a ``distill_from`` path is the study folder, so a configuration can learn from
teachers the same study trained. IMNs and black boxes get the same recipe options (``imn-X`` / ``blackbox-X``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ecgimn.errors import ConfigError

PRESETS_FILE = Path(__file__).with_name("presets.json")

#: the named configurations of the accuracy-parity study (read from ``presets.json``)
STUDY_PRESETS: dict[str, dict[str, Any]] = json.loads(PRESETS_FILE.read_text(encoding="utf-8"))


def expand_study_paths(recipe: dict[str, Any], out: Path) -> dict[str, Any]:
    """``{study}`` in ``distill_from`` paths is the study folder (teachers trained by the same study)."""
    if recipe.get("distill_from"):
        recipe = {
            **recipe,
            "distill_from": [str(p).replace("{study}", str(out)) for p in recipe["distill_from"]],
        }
    return recipe


def load_configs(spec: list[str]) -> dict[str, dict[str, Any]]:
    """Preset names and/or JSON files of named configurations."""
    configs: dict[str, dict[str, Any]] = {}
    for item in spec:
        path = Path(item)
        if path.suffix == ".json":
            if not path.is_file():
                raise ConfigError(f"{path}: study configuration file not found")
            try:
                configs.update(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{path}: not a JSON object of named configurations ({exc})") from None
        elif item in STUDY_PRESETS:
            configs[item] = STUDY_PRESETS[item]
        else:
            raise ConfigError(f"unknown study configuration {item!r}; presets: {', '.join(STUDY_PRESETS)}")
    return configs
