"""Which results a suite's claims are about: the suites that wrote results in a folder, each read back
from its file (or as the built-in of that name), and the configs of its jobs at any seed that ran — or,
for a suite `rnnreg tune` ran, of its tuned rows. Above suite.py and jobs.py (it expands suites), below
the commands; claims.py evaluates what this selects."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from rnnreg.errors import RnnregError
from rnnreg.identity import chosen, seedless
from rnnreg.jobs import config_of, expand
from rnnreg.storage import CHECKOUT
from rnnreg.suite import load_suite


def suites_named(results: list[dict]) -> list[tuple[str, str | None]]:
    """(name, source) of every suite that wrote a result here."""
    named = {(r["suite"]["name"], r["suite"].get("source")) for r in results
             if isinstance(r.get("suite"), dict) and r["suite"].get("name")}
    return sorted(named, key=lambda item: (item[0], item[1] or ""))


def suites_with_claims(results: list[dict], plugins, warn: Callable[[str], None] = lambda message: None) -> list[tuple]:
    """(name, suite, config hashes of its jobs) for every suite that wrote a result here and states claims.
    A suite is read from its recorded file where that still is (relative to rnnreg's repository, or
    absolute for a suite outside it), else as the built-in of that name. Configs are computed as the runner
    computes them (rnnreg.jobs), on the CPU, without building a runner."""
    found: dict[str, tuple] = {}
    for name, source in suites_named(results):
        suite = None
        files = [str(CHECKOUT / source)] if source else []
        for ref in [f for f in files if Path(f).exists()] + [name]:
            try:
                suite = load_suite(ref, plugins)
                break
            except RnnregError:
                continue
        if suite is None:
            warn(f"suite {name!r} ({source}) cannot be found: its claims are not checked")
        elif suite.claims and name not in found:
            configs = [config_of(job, plugins) for job in expand(suite, plugins)]
            tuned = tuned_finals(results, name, configs)
            # A tuned suite's claims are about its tuned rows (each entry's best configuration over seeds).
            found[name] = (name, suite, tuned or any_seed_of(results, configs))
    return list(found.values())


def any_seed_of(results: list[dict], configs: list[dict]) -> set[str]:
    """Config hashes of the results that are one of the suite's jobs at any seed: a suite that lists seed 0
    and was run again with `--seeds 3` has its claims checked on all three seeds."""
    entries = {seedless(config) for config in configs}
    return {result["config_hash"] for result in results
            if isinstance(result.get("config"), dict) and seedless(result["config"]) in entries}


def untuned_part(config: dict, shared: list | tuple = ()) -> str:
    """What ties a tuned final to its suite's entry: the config without what tuning chose (the parameters,
    the shared training knobs), the seed, and the tuning record."""
    kept = json.loads(json.dumps(chosen(config)))
    for key in ("tuning", "seed"):
        kept.pop(key, None)
    kept.get("regularizer", {}).pop("params", None)
    for knob in shared:
        kept.get("train", {}).pop(str(knob).removeprefix("train."), None)
    return json.dumps(kept, sort_keys=True)


def tuned_finals(results: list[dict], suite_name: str, configs: list[dict]) -> set[str]:
    """Config hashes of the results `rnnreg tune` retrained from suite `suite_name`'s studies whose untuned
    part matches one of the suite's jobs as it stands (another task setting never counts; another torch, device
    or numerics release does: see `identity.chosen`) — of one tuning group only, so the finals of a 4-trial and
    a 16-trial study never meet in one claim: the group whose finals cover the most of the suite's rows, then
    the one with the larger budget."""
    by_group: dict[str, set[str]] = {}
    labels: dict[str, set[str]] = {}
    entries: dict[tuple, set[str]] = {}  # the suite's untuned parts, once per set of shared knobs
    for result in results:
        tuning = (result.get("config") or {}).get("tuning") or {}
        if tuning.get("role") != "final" or (result.get("suite") or {}).get("name") != suite_name:
            continue
        shared = tuple(tuning.get("shared") or ())
        if shared not in entries:
            entries[shared] = {untuned_part(config, shared) for config in configs}
        if untuned_part(result["config"], shared) in entries[shared]:
            group = str(tuning.get("group"))
            by_group.setdefault(group, set()).add(result["config_hash"])
            labels.setdefault(group, set()).add(result["regularizer"]["label"])
    if not by_group:
        return set()

    def budget(group: str) -> int:
        found = re.search(r"-n(\d+)$", group)
        return int(found.group(1)) if found else 0

    return by_group[max(by_group, key=lambda group: (len(labels[group]), budget(group), group))]
