"""The regularizer interface, parameter checking, and composition with `+`.

A regularizer declares two things, both optional:
  - `plan()`: which sites it acts on and how ({site: SiteRule}); the model owns the masks' sampling and
    application (and the trained rates of rules marked `learned`), so every regularizer, built-in or
    third-party, is drawn by `rnnreg explain` and runs on the same fast paths;
  - `penalty(self, *, <activations>)`: a term added to the training loss (AR/TAR). Its keyword arguments
    name the activations it receives, from `ACTIVATIONS`; rnnreg collects only those, and only in training.
    It returns a scalar tensor on the scale of a per-token (per-sequence) mean loss: rnnreg scales it the
    way it scales the task loss (× the BPTT length for language models, whose loss is summed over steps).

Parameters are declared as defaults in `params`; their types come from the defaults. Names `p` and `p_*`
are dropout probabilities and must lie in [0, 1). A string parameter may list its allowed values in
`choices`.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # torch is imported by the functions running a penalty: loading plugins to read results needs none
    import torch
from rnnreg.dropout import PlanValue, check_plan
from rnnreg.errors import RnnregError
from rnnreg.params import is_probability, param_key
from rnnreg.registry import check_declares_only
from rnnreg.searchspace import plugin_space

if TYPE_CHECKING:
    from rnnreg.registry import Registry

# What rnnreg reads from a regularizer class; anything else public is a promise rnnreg would not keep.
INTERFACE = ("name", "description", "version", "params", "choices", "search_space", "plan", "penalty")
PARAM_TYPES = (bool, int, float, str)

# What a penalty can ask for, by keyword (each (batch, steps, hidden), from the training forward pass).
ACTIVATIONS = {
    "output": "the top layer's output h_t at every step, before the output site's mask",
    "dropped_output": "the same after the output site's mask (equal to output without one)",
    "layer_outputs": "a list: every layer's output h_t, bottom to top",
    "learned_rates": "a list of rnnreg.learned.LearnedRate: each trained dropout rate p (with its gradient), "
                     "the weight its mask meets and the units it covers (Concrete dropout's KL term)",
}


class Regularizer:
    """A regularizer plugin: what it does to an RNN, declared, so that rnnreg can run, draw, tune and check it.

    Declare, as class attributes:
      name          the registry name (`-r NAME`, composed with '+'); no '+', '=' or spaces;
      description   one line for `rnnreg plugins list`;
      version       bump it when the behaviour changes: it is part of every job's config hash;
      params        {name: default}: bool, int, float or str, the default's type is the parameter's;
                    `p` and `p_*` are dropout probabilities in [0, 1); read them as attributes (self.p_input);
      choices       {name: (allowed, values)} for a string parameter;
      search_space  `rnnreg tune`'s ranges for float parameters (see below and rnnreg.searchspace).
    and implement either or both of:
      plan()        {site: SiteRule} for the sites it acts on (rnnreg.dropout.SITES: embedding, input,
                    recurrent, cell, candidate, hidden, output, weight_recurrent); the model samples and
                    applies the masks, so `explain` and the fast paths serve every plugin alike. A rule sets
                    the mask's distribution (Bernoulli or Gaussian), may apply to some layers only
                    (`layers=(0,)`; a site takes a tuple of rules for disjoint layers), and may make its p
                    a trained rate (`learned=True`, Concrete dropout: rnnreg creates and optimizes it);
      penalty(self, *, output | dropped_output | layer_outputs | learned_rates) -> scalar tensor
                    a loss term; its keyword arguments name the activations it needs (ACTIVATIONS).
    Everything declared is checked when the plugin loads (`check_regularizer_class`): an unknown public
    attribute, a parameter of an unsupported type, a plan naming a site the model lacks or a rule its site
    cannot take, a penalty asking for what rnnreg cannot give, a bad search range, and a trainable tensor
    kept on the regularizer (rnnreg optimizes the model's parameters and the rates a plan declares learned,
    so a tensor of the regularizer's own would silently never train) are errors.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    params: ClassVar[dict[str, Any]] = {}
    choices: ClassVar[dict[str, tuple]] = {}
    # `rnnreg tune`'s ranges for float parameters, replacing the defaults (probabilities uniform on [0, 0.8],
    # other positive floats log-uniform a decade either side): {"p_recurrent": (0.0, 0.5),
    # "alpha": (0.1, 10.0, "log"), "beta": None} (None: not tuned). See rnnreg.searchspace.
    search_space: ClassVar[dict[str, tuple | None]] = {}

    def __init__(self, **overrides: Any):
        self.values = check_params(self.name, self.params, self.choices, overrides)

    def __getattr__(self, key: str) -> Any:
        # Parameters read as attributes: `self.p_input`. Only reached when normal lookup fails.
        values = self.__dict__.get("values", {})
        if key in values:
            return values[key]
        raise AttributeError(key)

    def plan(self) -> dict[str, PlanValue]:
        """Site name → rule (or a tuple of rules for disjoint layers) for every site this regularizer acts on;
        sites it leaves out are untouched."""
        return {}

    # A loss term, when a subclass defines `def penalty(self, *, output, ...) -> torch.Tensor` (see above).
    penalty: ClassVar[Callable[..., torch.Tensor] | None] = None

    def penalties(self) -> list[Regularizer]:
        """The parts of this regularizer that add a loss term."""
        return [self] if self.penalty is not None else []

    @property
    def spec(self) -> str:
        return self.name

    def resolved(self) -> dict[str, Any]:
        """Everything that identifies this regularizer in a results file."""
        return with_code({"spec": self.spec, "params": {self.name: dict(self.values)},
                          "versions": {self.name: self.version}}, [self])


BUILT_IN_PACKAGES = ("rnnreg", "rnnreg_plugins")  # their code is covered by rnnreg.NUMERICS_VERSION


_fingerprints: dict[type, str | None] = {}  # one read of a plugin's source per class and process


def code_fingerprint(cls: type) -> str | None:
    """What a plugin's code was when it ran: the SHA-256 (first 16 hex digits) of the source files of the
    modules that define its class and the classes it inherits from, rnnreg's own left out. None for the
    built-ins, whose code rnnreg's numerics release covers. A result records it in its config, so editing a
    plugin's source — even without bumping its `version` — gives its jobs a new cache key: they run again
    instead of being answered by a result of the old code. Code the class calls in other modules is not
    covered: bump `version` when that changes behaviour."""
    if cls in _fingerprints:
        return _fingerprints[cls]
    digest = hashlib.sha256()
    outside = False
    for klass in cls.__mro__:
        module = sys.modules.get(klass.__module__)
        if module is None or klass.__module__.split(".")[0] in BUILT_IN_PACKAGES or klass is object:
            continue
        try:
            path = inspect.getsourcefile(module)
            source = open(path, "rb").read() if path else None
        except (OSError, TypeError):
            source = None
        if source is None:
            continue  # a class defined where there is no source file (an interactive session): nothing to pin
        outside = True
        digest.update(klass.__module__.encode() + b"\0" + source)
    _fingerprints[cls] = digest.hexdigest()[:16] if outside else None
    return _fingerprints[cls]


def with_code(resolved: dict[str, Any], parts: list[Regularizer]) -> dict[str, Any]:
    """`resolved` with the code fingerprints of its parts that are not rnnreg's: a built-in regularizer's
    record (and so every existing cache key) is left as it was."""
    code = {part.name: fingerprint for part in parts if (fingerprint := code_fingerprint(type(part)))}
    return {**resolved, "code": code} if code else resolved


def check_regularizer_class(cls: object, origin: str) -> None:
    """Everything a regularizer plugin declares is checked when it is loaded, so nothing it asks for is
    silently ignored: its interface, its parameters, and the plan it gives at its defaults."""
    name = getattr(cls, "name", "?")
    where = f"regularizer {name!r} from {origin}"
    if not (isinstance(cls, type) and issubclass(cls, Regularizer)):
        raise RnnregError(f"{where}: {cls!r} is not a subclass of rnnreg.Regularizer")
    check_declares_only(cls, INTERFACE, (Regularizer, Composite), where, "a regularizer")
    if not isinstance(cls.description, str) or not isinstance(cls.version, str):
        raise RnnregError(f"{where}: 'description' and 'version' must be strings")
    if not isinstance(cls.params, dict) or not isinstance(cls.choices, dict):
        raise RnnregError(f"{where}: 'params' and 'choices' must be dicts")
    for key, default in cls.params.items():
        if type(default) not in PARAM_TYPES:
            raise RnnregError(f"{where}: parameter {key!r} has default {default!r}; defaults must be "
                              "bool, int, float or str (their type is the parameter's type)")
    for key in cls.choices:
        if key not in cls.params:
            raise RnnregError(f"{where}: choices name {key!r}, which is not a parameter "
                              f"({', '.join(cls.params) or 'none'})")
    if cls.penalty is not None:
        check_penalty_signature(cls.penalty, where)
    plugin_space(cls, where)  # a bad search range is a load error, like a bad plan
    try:
        check_params(name, cls.params, cls.choices, cls.params)  # the defaults obey the rules too
        instance = cls()
        check_not_trainable(instance)
        check_plan(instance.plan())
    except RnnregError as exc:
        raise RnnregError(f"{where}: {exc}") from None
    except Exception as exc:  # a plan that cannot even be built is the plugin's bug, said in one line
        raise RnnregError(f"{where}: plan() failed at the default parameters: {type(exc).__name__}: {exc}") from None


def check_penalty_runs(cls: type[Regularizer], origin: str) -> None:
    """A penalty, run once at the default parameters on example activations, gives one finite scalar
    tensor; part of loading a plugin for any command that trains (rnnreg.plugins.Plugins.check_penalties)."""
    if cls.penalty is None:
        return
    where = f"regularizer {cls.name!r} from {origin}"
    try:
        check_penalty_value(cls(), example_activations())
    except RnnregError as exc:
        raise RnnregError(f"{where}: {exc}") from None
    except Exception as exc:  # the plugin's bug, said in one line
        raise RnnregError(f"{where}: penalty() failed on example activations: {type(exc).__name__}: {exc}") from None


def trainable_attributes(regularizer: Regularizer) -> list[str]:
    """Attributes of a regularizer (its class's or its own) that hold tensors needing gradients: a
    `torch.nn.Parameter`, a tensor with requires_grad, or a module with trainable parameters, alone or in a
    list, tuple or dict. A plugin holding a tensor has imported torch, so without torch loaded there is
    none to find (and reading results need not load it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return []

    def trainable(value: object) -> bool:
        if isinstance(value, torch.nn.Module):
            return any(p.requires_grad for p in value.parameters())
        return isinstance(value, torch.Tensor) and value.requires_grad

    found = []
    attributes = {k: v for klass in reversed(type(regularizer).__mro__) for k, v in vars(klass).items()}
    for key, value in {**attributes, **vars(regularizer)}.items():
        inner = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
        if any(trainable(item) for item in inner):
            found.append(key)
    return found


def check_not_trainable(regularizer: Regularizer) -> None:
    """rnnreg optimizes the model's parameters only: a parameter a regularizer keeps for itself would never
    be trained while its gradient silently accumulated, so it is refused rather than ignored."""
    found = trainable_attributes(regularizer)
    if found:
        raise RnnregError(f"keeps trainable tensors ({', '.join(map(repr, found))}) that rnnreg would never "
                          "optimize; a regularizer's parameters are fixed numbers in `params`")


def penalty_arguments(penalty: Callable[..., Any] | None) -> list[str]:
    """The activations a penalty names (its arguments after self); none without a penalty."""
    if penalty is None:
        return []
    return [p.name for p in list(inspect.signature(penalty).parameters.values())[1:]]


def check_penalty_signature(penalty: object, where: str) -> None:
    """A penalty takes `self` and keyword-only activations by name; anything else could not be served."""
    if not callable(penalty):
        raise RnnregError(f"{where}: 'penalty' must be a method, got {penalty!r}")
    params = list(inspect.signature(penalty).parameters.values())[1:]
    for param in params:
        if param.kind is not inspect.Parameter.KEYWORD_ONLY or param.name not in ACTIVATIONS:
            raise RnnregError(f"{where}: penalty() argument {param.name!r} is not one rnnreg can give; declare "
                              f"keyword-only arguments among {', '.join(ACTIVATIONS)} "
                              "(def penalty(self, *, output): ...)")
    if not params:
        raise RnnregError(f"{where}: penalty() names no activation; give it keyword-only arguments among "
                          f"{', '.join(ACTIVATIONS)}")


def example_activations(batch: int = 2, steps: int = 3, hidden: int = 4) -> dict:
    import torch

    from rnnreg.learned import LearnedRate

    h = torch.randn(batch, steps, hidden, generator=torch.Generator().manual_seed(0))
    rate = LearnedRate("recurrent", 0, torch.tensor(0.25), torch.ones(4 * hidden, hidden), hidden, 1000)
    return {"output": h, "dropped_output": h * 2, "layer_outputs": [h, h], "learned_rates": [rate]}


def check_penalty_value(part: Regularizer, activations: dict) -> torch.Tensor:
    """Call a part's penalty with the activations it names; it must give one finite number as a tensor."""
    import torch
    method = part.penalty
    if method is None:
        raise RnnregError(f"regularizer {part.name!r} has no penalty()")
    value = method(**{name: activations[name] for name in penalty_arguments(type(part).penalty)})
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        got = f"a tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise RnnregError(f"regularizer {part.name!r}: penalty() must return a scalar tensor, got {got}")
    return value.reshape(())


def total_penalty(regularizer: Regularizer, activations: dict) -> torch.Tensor | None:
    """The sum of every part's loss term, or None when no part has one."""
    terms = [check_penalty_value(part, activations) for part in regularizer.penalties()]
    return sum(terms[1:], terms[0]) if terms else None


def check_params(owner: str, declared: Mapping[str, Any], choices: Mapping[str, tuple],
                 given: Mapping[str, Any]) -> dict:
    values = dict(declared)
    for key, value in given.items():
        if key not in declared:
            allowed = ", ".join(sorted(declared)) or "none"
            raise RnnregError(f"{owner}: unknown parameter {key!r} (allowed: {allowed})")
        values[key] = check_value(owner, key, value, declared[key], choices.get(key))
    return values


def check_value(owner: str, key: str, value: Any, default: Any, allowed: tuple | None) -> Any:
    kind = type(default)
    if kind is bool:
        if not isinstance(value, bool):
            raise RnnregError(f"{owner}: parameter {key!r} must be true or false, got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RnnregError(f"{owner}: parameter {key!r} must be a number, got {value!r}")
        value = float(value)
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RnnregError(f"{owner}: parameter {key!r} must be an integer, got {value!r}")
    elif kind is str and not isinstance(value, str):
        raise RnnregError(f"{owner}: parameter {key!r} must be a string, got {value!r}")
    if is_probability(key) and not 0.0 <= value < 1.0:
        raise RnnregError(f"{owner}: parameter {key!r} must be in [0, 1), got {value!r}")
    if allowed is not None and value not in allowed:
        raise RnnregError(f"{owner}: parameter {key!r} must be one of {', '.join(map(str, allowed))}; got {value!r}")
    return value


class Composite(Regularizer):
    """Several regularizers applied together (`variational+embedding`); no two may claim the same site."""

    def __init__(self, parts: list[Regularizer]):
        self.parts = parts
        self.values = {}
        names = [part.name for part in parts]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise RnnregError(f"cannot compose {repeated[0]!r} with itself: each part of a '+' spec appears once")
        claimed: dict[str, str] = {}
        for part in parts:
            for site in part.plan():
                if site in claimed:
                    raise RnnregError(
                        f"cannot compose {claimed[site]!r} with {part.name!r}: both act on the {site} site"
                    )
                claimed[site] = part.name

    @property
    def spec(self) -> str:
        return "+".join(part.name for part in self.parts)

    def plan(self) -> dict[str, PlanValue]:
        merged: dict[str, PlanValue] = {}
        for part in self.parts:
            merged.update(part.plan())
        return merged

    def penalties(self) -> list[Regularizer]:
        return [part for part in self.parts if part.penalty is not None]

    def resolved(self) -> dict[str, Any]:
        return with_code({
            "spec": self.spec,
            "params": {p.name: dict(p.values) for p in self.parts},
            "versions": {p.name: p.version for p in self.parts},
        }, self.parts)


def built_regularizer(spec: str, overrides: Mapping[str, Any], registry: Registry[type[Regularizer]]) -> Regularizer:
    """`build_regularizer`, once per configuration per process: planning, hashing, the fail-fast checks and
    training a job all use the same object. A regularizer is a declaration — its values and plan never change
    after it is built (a plugin keeps no state: its trainable rates are rnnreg's) — so sharing it is safe."""
    import json

    key = (spec, json.dumps(overrides, sort_keys=True, default=str))
    if key not in registry.built:  # kept with the registry: another load of the plugins builds afresh
        registry.built[key] = build_regularizer(spec, overrides, registry)
    return registry.built[key]


def build_regularizer(spec: str, overrides: Mapping[str, Any], registry: Registry[type[Regularizer]]) -> Regularizer:
    """Turn `variational+embedding` and `key=value` overrides into one regularizer.

    `embedding.p=0.2` names its part; a bare `p_input=0.4` goes to the one part that declares it.
    """
    names = [name.strip() for name in spec.split("+")]
    if not all(names):
        raise RnnregError(f"bad regularizer spec {spec!r}: expected names joined by '+', like 'variational+embedding'")
    classes = {name: registry.get(name).cls for name in names}
    routed: dict[str, dict[str, Any]] = {name: {} for name in names}
    for key, value in overrides.items():
        part_name, dot, param = key.rpartition(".")
        if dot:
            if part_name not in routed:
                raise RnnregError(f"parameter {key!r} names {part_name!r}, which is not part of {spec!r}")
            routed[part_name][param] = value
            continue
        owners = [name for name in names if key in classes[name].params]
        if len(owners) > 1:
            raise RnnregError(f"parameter {key!r} is ambiguous in {spec!r}; write {owners[0]}.{key}=... instead")
        if not owners:
            allowed = sorted(param_key(n, k, len(names) > 1) for n in names for k in classes[n].params)
            raise RnnregError(f"{spec}: unknown parameter {key!r} (allowed: {', '.join(allowed) or 'none'})")
        routed[owners[0]][key] = value
    parts = [classes[name](**routed[name]) for name in names]
    for part in parts:  # parameters can change a plan: check it as built, not only at the defaults
        try:
            check_not_trainable(part)
            check_plan(part.plan())
        except RnnregError as exc:
            raise RnnregError(f"regularizer {part.name!r} with {dict(part.values)}: {exc}") from None
        except Exception:  # a plan that raises is the plugin's failure: its job records it
            pass
    return parts[0] if len(parts) == 1 else Composite(parts)
