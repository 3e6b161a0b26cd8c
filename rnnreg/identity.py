"""What a result is: its config, canonical JSON, and the config's hash.

A job's config hash covers everything that can change its numbers: the resolved task, model, training
and evaluation settings, the regularizer's spec, parameters and versions, the seed, the device type, and
the versions of rnnreg's numerics and of torch. A rerun finds the result file by that hash and skips the
job; nothing is keyed on hand-picked fields, so a stale result is never mistaken for a fresh one. What a
result is *about* (`chosen`) leaves out what the environment decided.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def config_hash(config: dict) -> str:
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


# What the environment decided rather than the user: rnnreg's numerics release and torch's build
# (`versions`) and the device type. They stay in the config hash, the cache key (another build or device
# rounds differently, so its result is its own file), but not in a result's identity.
ENVIRONMENT_KEYS = ("versions", "device")


def chosen(config: dict) -> dict:
    """What the user chose in a job's config — task and its version, regularizer, parameters and plugin
    versions, model, training, evaluation, seed, tuning — without what the environment decided. Results
    with the same chosen config are the same experiment whichever torch, device or release wrote them: this
    is what ties a result to a suite's job and its claims."""
    return {key: value for key, value in config.items() if key not in ENVIRONMENT_KEYS}


def seedless(config: dict) -> str:
    """A job's chosen configuration (see `chosen`) without its seed, as canonical JSON: what the seeds of
    one row share, wherever they ran."""
    return canonical_json({key: value for key, value in chosen(config).items() if key != "seed"})
