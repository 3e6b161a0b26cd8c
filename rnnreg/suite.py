"""Suites: which tasks, regularizers, seeds and evaluation to run, as a small YAML file.

    name: quick
    seeds: [0]                      # or a count: 3 → seeds 0, 1, 2
    evaluation: {mc_samples: 10}
    tasks:
      synthetic-lm: {}              # or overrides: {train: {epochs: 5}, model: {hidden_size: 64}}
    regularizers:
      - none
      - variational+embedding
      - {spec: variational, label: variational-untied, params: {untied: true}}
      - {spec: variational+embedding, params: {p_recurrent: [0.0, 0.25, 0.5], embedding.p: [0.0, 0.5]}}  # a grid
    dropout_scale: 0.5              # optional: every dropout probability (p, p_*) × 0.5, defaults included;
                                    # a list sweeps it ([0.25, 0.5, 1.0]: labels gain [dropout_scale=…])
    tune:                           # optional, for `rnnreg tune` (rnnreg.searchspace has the rules)
      space: {variational: {p_input: [0.0, 0.5]}}     # narrow or fix a regularizer's ranges
      shared: {train.weight_decay: [1.0e-7, 1.0e-4, log]}
      strength: [0.25, 0.5, 0.75, 1.0]              # or: one factor on all of a regularizer's probabilities

Everything is checked on load, against the registered tasks and regularizers, so a typo fails in one line
naming the file and the key before any training starts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rnnreg.errors import RnnregError
from rnnreg.params import is_probability, param_key
from rnnreg.regularizer import Composite, built_regularizer
from rnnreg.settings import check_setting

DEFAULT_SUITE = "quick"
TOP_KEYS = {"name", "description", "seeds", "evaluation", "tasks", "regularizers", "claims", "dropout_scale", "tune"}
TUNE_KEYS = {"space", "shared", "strength"}
EVALUATION_KEYS = {"mc_samples": int, "mc_embedding": bool, "batch_size": int, "train_metric": bool,
                   "curve_test": bool,  # curve_test: the test split's metric in every epoch's curve (Gal's scripts)
                   "mc_splits": list}  # which splits get MC passes (default both): each one costs mc_samples passes
MC_SPLITS = ("valid", "test")
TASK_KEYS = {"model", "train"}
REGULARIZER_KEYS = {"spec", "label", "params", "train", "evaluation"}


def check_evaluation(evaluation: dict, where: str, fail) -> None:
    """The values of an `evaluation` mapping whose keys are known (the suite's, or one entry's overrides):
    each of its type."""
    for key, value in evaluation.items():
        kind = EVALUATION_KEYS[key]
        if kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        elif key == "mc_splits":
            if not (isinstance(value, list) and value and all(split in MC_SPLITS for split in value)
                    and len(set(value)) == len(value)):
                fail(f"'{where}.{key}' must be a non-empty list of distinct splits from {', '.join(MC_SPLITS)}, "
                     f"got {value!r}")
            continue
        else:
            ok = isinstance(value, kind)
        if not ok:
            wanted = "non-negative integer" if kind is int else kind.__name__
            fail(f"'{where}.{key}' must be a {wanted}, got {value!r}")


@dataclass
class RegularizerEntry:
    spec: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    train: dict[str, Any] = field(default_factory=dict)  # training overrides for this entry alone (weight decay)
    evaluation: dict[str, Any] = field(default_factory=dict)  # evaluation overrides for this entry alone (MC)

    def __post_init__(self):
        if not self.label:
            inner = ",".join(f"{k}={format_value(v)}" for k, v in sorted(self.params.items()))
            self.label = f"{self.spec}[{inner}]" if inner else self.spec


def format_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def expand_sweep(spec: str, params: dict[str, Any], label: str = "") -> list[RegularizerEntry]:
    """A parameter given a list sweeps it: one entry per value, the grid of every swept parameter.

    {p_recurrent: [0.0, 0.5], embedding.p: [0.0, 0.5]} → four entries. Without a label each entry is named by
    all its parameters (variational[p_recurrent=0.5]); with one, by the label and the swept values.
    """
    swept = {key: value for key, value in params.items() if isinstance(value, list)}
    for key, values in swept.items():
        if not values:
            raise RnnregError(f"parameter {key!r} sweeps an empty list")
    entries = []
    for combo in itertools.product(*swept.values()):
        chosen = dict(zip(swept, combo, strict=True))
        named = ""
        if label:
            inner = ",".join(f"{k}={format_value(v)}" for k, v in sorted(chosen.items()))
            named = f"{label}[{inner}]" if chosen else label
        entries.append(RegularizerEntry(spec, {**params, **chosen}, named))
    return entries


def rows_labelled(regularizers: list[RegularizerEntry], name: str) -> list[RegularizerEntry]:
    """A suite's own entries that `-r NAME` means: the one labelled NAME, else the sweep labelled NAME[...].

    Running a suite's row by name must run the row the suite ran, with its parameters and overrides, not
    the plugin's defaults under the same label (which would then hold two configurations).
    """
    exact = [entry for entry in regularizers if entry.label == name]
    return exact or [entry for entry in regularizers if entry.label.startswith(f"{name}[")]


def load_yaml(text: str, source: str):
    """A suite's YAML without anchors and aliases: an alias repeats a node by reference, and nested ones
    (a "billion laughs") expand to gigabytes once a suite's grid is built from them. A suite has no need of
    them, so one is refused in one line before anything is built (PyYAML's SafeLoader still expands them)."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark is not None else "?"
            raise RnnregError(f"{source}: line {line}: an alias (*{event.anchor}); write the values out: "
                              "a suite takes no anchors or aliases")
    return yaml.safe_load(text)


def only_labels(suite: Suite, labels: tuple[str, ...]) -> None:
    """Keep the suite's rows named by `labels` (`rnnreg tune -r LABEL`: tune these, with the suite's own
    parameters, and leave the other rows for later); a label the suite does not have is a one-line error."""
    if not labels:
        return
    known = [entry.label for entry in suite.regularizers]
    unknown = [label for label in labels if not rows_labelled(suite.regularizers, label)]
    if unknown:
        raise RnnregError(f"{suite.source}: no row labelled {', '.join(map(repr, unknown))} "
                          f"(its rows: {', '.join(known)})")
    suite.regularizers = [entry for entry in suite.regularizers
                          if any(entry in rows_labelled(suite.regularizers, label) for label in labels)]


def probabilities_of(entry: RegularizerEntry, registry) -> dict[str, float]:
    """The dropout probabilities an entry runs with (`part.p` in a composite), defaults included: what a
    dropout scale or a tuned strength multiplies. Loss weights are not among them."""
    built = built_regularizer(entry.spec, entry.params, registry)
    parts = built.parts if isinstance(built, Composite) else [built]
    return {param_key(part.name, key, len(parts) > 1): value
            for part in parts for key, value in part.values.items() if is_probability(key)}


def what_a_strength_moves(entry: RegularizerEntry, registry) -> str:
    """One line for the suite check: the probabilities a strength (or dropout scale) multiplies in an entry,
    at their values as written, and the numeric parameters it leaves alone (loss weights, temperatures)."""
    moved = probabilities_of(entry, registry)
    built = built_regularizer(entry.spec, entry.params, registry)
    parts = built.parts if isinstance(built, Composite) else [built]
    kept = [param_key(part.name, key, len(parts) > 1) for part in parts for key, value in part.values.items()
            if not is_probability(key) and isinstance(value, (int, float)) and not isinstance(value, bool)]
    text = ", ".join(f"{key} {value:g}" for key, value in moved.items()) or "nothing (no dropout probability)"
    return f"{entry.label}: {text}" + (f"; {', '.join(kept)} stay" if kept else "")


def scale_dropout(entry: RegularizerEntry, scale: float, registry, sweeping: bool) -> RegularizerEntry:
    """The entry with every dropout probability (parameters `p`, `p_*`) multiplied by `scale`, the plugin's
    defaults included, written out as explicit parameters so results record the values that ran. One scale
    for every regularizer is how a suite gives each method the same budget on a model smaller than the
    one its defaults were tuned for. Loss coefficients (AR/TAR's alpha, beta) are not probabilities: untouched.
    """
    kept = {k: v for k, v in entry.params.items() if not is_probability(k.rpartition(".")[2])}
    scaled = {key: round(value * scale, 10) for key, value in probabilities_of(entry, registry).items()}
    if not scaled:  # nothing to scale (none, ar-tar): one entry whatever the scale
        return entry
    label = entry.label
    if sweeping:
        value = format_value(scale)  # named as expand_sweep names swept values
        label = f"{label[:-1]},dropout_scale={value}]" if label.endswith("]") else f"{label}[dropout_scale={value}]"
    built_regularizer(entry.spec, {**kept, **scaled}, registry)  # a scaled probability must still be < 1
    return RegularizerEntry(entry.spec, {**kept, **scaled}, label, dict(entry.train), dict(entry.evaluation))


def apply_dropout_scale(regularizers: list[RegularizerEntry], scales: float | list, registry) -> list[RegularizerEntry]:
    """Every entry at every scale (a list sweeps it); entries without probabilities once."""
    scale_list = scales if isinstance(scales, list) else [scales]
    if scale_list == [1.0]:
        return regularizers
    scaled: list[RegularizerEntry] = []
    for reg in regularizers:
        for scale in scale_list:
            try:
                entry = scale_dropout(reg, float(scale), registry, isinstance(scales, list))
            except RnnregError as exc:
                raise RnnregError(f"regularizer {reg.label!r} with dropout_scale {scale}: {exc}") from None
            if entry not in scaled:
                scaled.append(entry)
    return scaled


@dataclass
class Suite:
    name: str
    source: str  # where it came from, for messages
    seeds: list[int]
    evaluation: dict[str, Any]
    tasks: dict[str, dict[str, dict[str, Any]]]  # task → {"model": {...}, "train": {...}} overrides
    regularizers: list[RegularizerEntry]
    claims: list = field(default_factory=list)  # rnnreg.claims.Claim, checked by `rnnreg claims`
    dropout_scale: float | list = 1.0  # also applied to regularizers added on the command line (-r, --all)
    tune: dict[str, Any] = field(default_factory=dict)  # `rnnreg tune`: {"space": {label: {...}}, "shared": {...}}


def builtin_suite_path(name: str) -> Path:
    import rnnreg_suites

    path = Path(rnnreg_suites.__file__).parent / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise RnnregError(f"unknown suite {name!r} (built in: {', '.join(known)}; or pass a path to a .yaml file)")
    return path


def load_suite(ref: str | Path | None, plugins) -> Suite:
    """Load a suite by path, or by the name of a built-in suite (default: quick)."""
    ref = ref or DEFAULT_SUITE
    path = Path(ref)
    if path.suffix not in (".yaml", ".yml"):
        path = builtin_suite_path(str(ref))
    if not path.exists():
        raise RnnregError(f"suite file {str(path)!r} does not exist")
    try:
        raw = load_yaml(path.read_text(), str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise RnnregError(f"{path}: not valid YAML{where}") from None
    return parse_suite(raw, str(path), plugins)


def parse_suite(raw: Any, source: str, plugins) -> Suite:
    def fail(message: str):
        raise RnnregError(f"{source}: {message}")

    def expect_keys(mapping, allowed, where):
        if not isinstance(mapping, dict):
            fail(f"{where} must be a mapping, got {type(mapping).__name__}")
        for key in mapping:
            if key not in allowed:
                prefix = where + "." if where != "suite" else ""
                fail(f"unknown key {prefix}{key!r} (allowed: {', '.join(sorted(allowed))})")

    expect_keys(raw, TOP_KEYS, "suite")
    for required in ("tasks", "regularizers"):
        if required not in raw:
            fail(f"missing key {required!r}")

    seeds = raw.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds > 0:
        seeds = list(range(seeds))
    if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        fail(f"'seeds' must be a positive count or a list of integers, got {seeds!r}")

    evaluation = raw.get("evaluation") or {}
    expect_keys(evaluation, set(EVALUATION_KEYS), "evaluation")
    check_evaluation(evaluation, "evaluation", fail)

    tasks: dict[str, dict] = {}
    task_map = raw["tasks"]
    if isinstance(task_map, list):
        for i, name in enumerate(task_map):
            if not isinstance(name, str):
                fail(f"tasks[{i}] must be a task name, got {type(name).__name__}; a list holds names only "
                     "(tasks: [synthetic-lm]), overrides go in a mapping (tasks: {synthetic-lm: {train: {epochs: 5}}})")
        task_map = {name: {} for name in task_map}
    if not isinstance(task_map, dict):
        fail("'tasks' must be a mapping or a list")
    expect_keys(task_map, set(plugins.tasks.names()), "tasks")
    for name, overrides in task_map.items():
        overrides = overrides or {}
        expect_keys(overrides, TASK_KEYS, f"tasks.{name}")
        task_cls = plugins.tasks.get(name).cls
        tasks[name] = {}
        for part in TASK_KEYS:
            section = overrides.get(part) or {}
            expect_keys(section, set(getattr(task_cls, part)), f"tasks.{name}.{part}")
            tasks[name][part] = {key: check_setting(task_cls, part, key, value, source)
                                 for key, value in section.items()}
    if not tasks:
        fail("'tasks' is empty")

    regularizers = []
    entries = raw["regularizers"]
    if not isinstance(entries, list) or not entries:
        fail("'regularizers' must be a non-empty list")
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"spec": entry}
        expect_keys(entry, REGULARIZER_KEYS, f"regularizers[{i}]")
        if "spec" not in entry:
            fail(f"regularizers[{i}] has no 'spec'")
        params = entry.get("params") or {}
        if not isinstance(params, dict):
            fail(f"regularizers[{i}].params must be a mapping, got {type(params).__name__}")
        train = entry.get("train") or {}
        if train and not entry.get("label"):
            fail(f"regularizers[{i}] sets 'train' and needs a 'label' saying so (e.g. variational-wd)")
        expect_keys(train, set().union(*(plugins.tasks.get(t).cls.train for t in tasks)), f"regularizers[{i}].train")
        own_evaluation = entry.get("evaluation") or {}
        if own_evaluation and not entry.get("label"):
            fail(f"regularizers[{i}] sets 'evaluation' and needs a 'label' saying so (e.g. variational-mc)")
        expect_keys(own_evaluation, set(EVALUATION_KEYS), f"regularizers[{i}].evaluation")
        check_evaluation(own_evaluation, f"regularizers[{i}].evaluation", fail)
        try:
            for task_name in tasks:  # typed and ranged as task settings are, for every task it runs on
                for key, value in train.items():
                    check_setting(plugins.tasks.get(task_name).cls, "train", key, value, f"regularizers[{i}]")
            for reg in expand_sweep(entry["spec"], dict(params), entry.get("label") or ""):
                built_regularizer(reg.spec, reg.params, plugins.regularizers)
                reg.train, reg.evaluation = dict(train), dict(own_evaluation)
                regularizers.append(reg)
        except RnnregError as exc:
            fail(f"regularizers[{i}]: {exc}")
    scales = raw.get("dropout_scale", 1.0)
    scale_list = scales if isinstance(scales, list) else [scales]
    if not scale_list or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0
                                 for x in scale_list):
        fail(f"'dropout_scale' must be a non-negative number or a list of them, got {scales!r}")
    try:
        regularizers = apply_dropout_scale(regularizers, scales, plugins.regularizers)
    except RnnregError as exc:
        fail(str(exc))
    labels = [r.label for r in regularizers]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        fail(f"duplicate regularizer label(s) {', '.join(duplicates)}; give each a distinct 'label'")
    from rnnreg.claims import check_claim_names, parse_claim

    raw_claims = raw.get("claims") or []
    if not isinstance(raw_claims, list):
        fail("'claims' must be a list of strings")
    claims = []
    for i, text in enumerate(raw_claims):
        claim = parse_claim(text, f"{source}: claims[{i}]")
        check_claim_names(claim, set(labels), set(tasks), f"{source}: claims[{i}]")
        claims.append(claim)
    tune = raw.get("tune") or {}
    expect_keys(tune, TUNE_KEYS, "tune")
    space = tune.get("space") or {}
    expect_keys(space, set(labels), "tune.space")
    if not isinstance(tune.get("shared") or {}, dict) or not all(isinstance(v, dict) for v in space.values()):
        fail("tune.space must map labels to {parameter: [low, high] or null}; tune.shared, train.NAME to ranges")
    from rnnreg.searchspace import shared_space, space_of, strength_space

    try:
        shared_space(tune.get("shared") or {}, source)
        strength = strength_space(tune.get("strength"), source)
        for entry in regularizers:  # every range checked now, not when its first trial runs
            space_of(entry.spec, plugins.regularizers, entry.params, space.get(entry.label), f"{source}: tune.space")
            if strength:
                probabilities = probabilities_of(entry, plugins.regularizers)
                if not probabilities:
                    fail(f"tune.strength scales dropout probabilities, and {entry.label!r} has none; leave it out "
                         "of this suite (AR/TAR's weights are not probabilities)")
                top, (name, p) = strength["strength"].high, max(probabilities.items(), key=lambda item: item[1])
                if top * p >= 1.0:
                    fail(f"tune.strength up to {top:g} takes {entry.label!r}'s {name} {p:g} to {top * p:g}; "
                         "a probability must stay below 1")
    except RnnregError as exc:
        raise RnnregError(str(exc) if str(exc).startswith(source) else f"{source}: {exc}") from None
    return Suite(raw.get("name") or Path(source).stem, source, seeds, evaluation, tasks, regularizers, claims,
                 scales, {"space": space, "shared": tune.get("shared") or {}, "strength": tune.get("strength")})


# --- what the command line asks of a suite (`run`, `tune`): decided here, below the CLI, which only parses --


def choose_regularizers(plan: Suite, plugins, specs: tuple[str, ...], overrides: dict, run_all: bool) -> list[str]:
    """`-r SPEC` (with `--param` overrides, a list of values sweeps) and `--all` applied to `plan`: a `-r`
    naming one of the suite's labels runs that row as the suite wrote it (its parameters, overrides and
    scale); any other spec is a new row of the plugin, at the suite's dropout scale; `--all` adds every
    registered regularizer the list lacks. Every new row is built now, so a mistake is one line before
    training. Returns the notes to print once everything is checked."""
    named: list[RegularizerEntry] = []
    notes: list[str] = []
    if specs:
        suite_rows, plan.regularizers = plan.regularizers, []
        for spec in specs:
            own = [] if overrides else rows_labelled(suite_rows, spec)
            if own:
                if own != plugin_rows(spec, plan, plugins):
                    notes.append(f"-r {spec} runs the suite's row: " + "; ".join(map(describe_row, own)))
                plan.regularizers += own
                continue
            for entry in expand_sweep(spec, dict(overrides)):  # p=0,0.5 → one job per value
                built_regularizer(entry.spec, entry.params, plugins.regularizers)  # fail now, in one line
                named.append(entry)
    if run_all:
        listed = {entry.label for entry in plan.regularizers + named}
        named += [RegularizerEntry(name) for name in plugins.regularizers.names() if name not in listed]
    scaled = apply_dropout_scale(named, plan.dropout_scale, plugins.regularizers)  # as the suite's own entries
    if scaled != named:
        notes.append(f"dropout_scale {plan.dropout_scale} of suite {plan.name!r} applies to the regularizers "
                     "named here too")
    plan.regularizers += scaled
    return notes


def plugin_rows(spec: str, plan, plugins) -> list | None:
    """What `-r SPEC` would be without the suite's row of that label: the plugin's defaults, at the suite's scale."""
    try:
        return apply_dropout_scale([RegularizerEntry(spec)], plan.dropout_scale, plugins.regularizers)
    except RnnregError:  # the label is not a spec (a suite's own name for a row)
        return None


def describe_row(row) -> str:
    """`variational (p_input=0.5, p_recurrent=0.5)`: a suite entry as the line that says which one runs."""
    params = ", ".join(f"{key}={format_value(value)}" for key, value in sorted(row.params.items()))
    return f"{row.label} ({params or 'plugin defaults'})"


def choose_tasks(plan, plugins, task_names: tuple[str, ...]) -> None:
    """`-t TASK`: run these tasks (with the suite's overrides where it has them) instead of the suite's."""
    if task_names:
        for name in task_names:
            plugins.tasks.get(name)
        plan.tasks = {name: plan.tasks.get(name, {"model": {}, "train": {}}) for name in task_names}


def override_settings(plan, plugins, settings: dict) -> None:
    """`--set SECTION.KEY=VALUE` ({key: value}): every task of the plan gets the setting, checked against its
    type."""
    for key, value in settings.items():
        section, _, name = key.partition(".")
        for task_name, overrides in plan.tasks.items():
            task_cls = plugins.tasks.get(task_name).cls
            overrides.setdefault(section, {})[name] = check_setting(task_cls, section, name, value, "--set")
