"""Claims: statements a suite makes about its own results, checked against them with a test and n.

A suite lists claims, one per line (labels are the suite's regularizer labels):

    variational < zaremba on synthetic-lm valid_perplexity     # or >: two rows, paired by seed
    valid_perplexity_mc < valid_perplexity for variational on synthetic-lm    # two metrics of one row
    |valid_perplexity_mc - valid_perplexity| / valid_perplexity < 0.02 for variational on synthetic-lm
    (valid_perplexity_mc - valid_perplexity) / valid_perplexity < 0.02 for variational on synthetic-lm
    none overfits on synthetic-sentiment                        # or: variational does not overfit on ...
    none overfits more than variational on synthetic-sentiment

Each is `holds`, `contradicted` or `inconclusive`, decided by a t-test over seeds (rnnreg.significance):
  - comparisons (two rows, or two metrics of one row) by a paired t-test of the per-seed differences;
  - a relative gap (absolute, or signed: "not more than x % worse") by a one-sample t-test of the per-seed
    gap against the bound; the numbers say which way the gap went (how many seeds had M1 above M2);
  - overfitting by rnnreg.overfitting's margin (the smoothed curve's largest rise beyond its noise,
    relative; negative within noise), against a 1 % tolerance, or paired between two rows.
It holds when the test rejects at 0.05 in the claimed direction, is contradicted when it rejects in the
other, and is inconclusive otherwise. The p-values of a suite's claims are corrected together (Holm); the
status uses the corrected one, and both are shown. An inconclusive claim says how many paired seeds would
detect an effect of the observed size at 80 % power. With fewer than two seeds every claim is inconclusive.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rnnreg.errors import RnnregError
from rnnreg.metrics import Result
from rnnreg.overfitting import overfit_margin
from rnnreg.significance import ALPHA, holm, one_sample_p_value, paired, seeds_for_power, t_interval

OVERFIT_TOLERANCE = 0.01  # a relative rise beyond noise below which a curve counts as not overfitting

LABEL = r"(?P<{}>\S+)"
METRIC = r"(?P<{}>\w+)"
FORMS = {
    "compare": re.compile(rf"^{LABEL.format('a')}\s*(?P<op>[<>])\s*{LABEL.format('b')}"
                          r"\s+on\s+(?P<task>\S+)\s+(?P<metric>\w+)$"),
    "metrics": re.compile(rf"^{METRIC.format('m1')}\s*(?P<op>[<>])\s*{METRIC.format('m2')}"
                          rf"\s+for\s+{LABEL.format('a')}\s+on\s+(?P<task>\S+)$"),
    "gap": re.compile(r"^\|\s*(?P<m1>\w+)\s*-\s*(?P<m2>\w+)\s*\|\s*/\s*(?P<m3>\w+)\s*<\s*(?P<bound>[0-9.eE+-]+)"
                      rf"\s+for\s+{LABEL.format('a')}\s+on\s+(?P<task>\S+)$"),
    "signed-gap": re.compile(r"^\(\s*(?P<m1>\w+)\s*-\s*(?P<m2>\w+)\s*\)\s*/\s*(?P<m3>\w+)\s*<\s*"
                             rf"(?P<bound>[0-9.eE+-]+)\s+for\s+{LABEL.format('a')}\s+on\s+(?P<task>\S+)$"),
    "overfit-more": re.compile(rf"^{LABEL.format('a')}\s+overfits more than\s+{LABEL.format('b')}"
                               r"\s+on\s+(?P<task>\S+)$"),
    "overfit": re.compile(rf"^{LABEL.format('a')}\s+(?P<neg>does not overfit|overfits)\s+on\s+(?P<task>\S+)$"),
}


@dataclass(frozen=True)
class Claim:
    text: str
    kind: str
    fields: dict


def parse_claim(text: str, where: str) -> Claim:
    if not isinstance(text, str):
        raise RnnregError(f"{where}: a claim must be a string, got {type(text).__name__}")
    line = " ".join(text.split())
    for kind, pattern in FORMS.items():
        match = pattern.match(line)
        if match:
            fields = match.groupdict()
            if kind in ("gap", "signed-gap"):
                if fields["m2"] != fields["m3"]:
                    raise RnnregError(f"{where}: claim {line!r} divides by {fields['m3']}, not by {fields['m2']}")
                try:
                    fields["bound"] = float(fields["bound"])
                except ValueError:
                    raise RnnregError(f"{where}: claim {line!r} has bound {fields['bound']!r}, not a number") from None
            return Claim(line, kind, fields)
    raise RnnregError(f"{where}: cannot read claim {line!r} (forms: 'A < B on TASK METRIC', "
                      "'M1 < M2 for A on TASK', '|M1 - M2| / M2 < X for A on TASK', "
                      "'(M1 - M2) / M2 < X for A on TASK', 'A overfits on TASK', 'A does not overfit on TASK', "
                      "'A overfits more than B on TASK')")


def check_claim_names(claim: Claim, labels: set[str], tasks: set[str], where: str) -> None:
    for key in ("a", "b"):
        name = claim.fields.get(key)
        if name is not None and name not in labels:
            raise RnnregError(f"{where}: claim {claim.text!r} names {name!r}, which is not a label of this suite "
                              f"({', '.join(sorted(labels))})")
    if claim.fields["task"] not in tasks:
        raise RnnregError(f"{where}: claim {claim.text!r} names task {claim.fields['task']!r}, which this suite "
                          f"does not run ({', '.join(sorted(tasks))})")


def by_seed(pairs: Iterable[tuple[int, float]]) -> dict[int, float]:
    """(seed, value) pairs to one value a seed. A label with several results at one seed is a tuned method
    whose searches chose different winners, each retrained on the same final seeds: it counts at that seed as
    their mean (the tuned outcome over searches), not as whichever file came last."""
    found: dict[int, list[float]] = {}
    for seed, value in pairs:
        found.setdefault(seed, []).append(value)
    return {seed: statistics.fmean(values) for seed, values in found.items()}


def values_by_seed(results: list[dict], label: str, metric: str) -> dict[int, float]:
    return by_seed((r["seed"], r["metrics"][metric]["value"]) for r in results
                   if r["regularizer"]["label"] == label and r["status"] == "ok" and metric in r["metrics"])


def overfit_margin_of(result: dict) -> float | None:
    """rnnreg.overfitting's margin of a result's validation curve (its primary metric, lower is better)."""
    return overfit_margin(Result(result).curve("valid"))


def margin_by_seed(results: list[dict], label: str) -> dict[int, float]:
    return by_seed((r["seed"], m) for r in results if r["regularizer"]["label"] == label
                   for m in [overfit_margin_of(r)] if m is not None and not math.isnan(m))


def evaluate_all(results: list[dict], suites: list[tuple]) -> list[dict]:
    """Every claim of every (name, suite, config hashes) on the results whose config is one of the suite's
    jobs (so a result another suite wrote counts when its configuration is the same, and a stale one —
    another version, other settings — never does). A suite's p-values are corrected together (Holm)."""
    rows = []
    for name, suite, hashes in suites:
        mine = [r for r in results if r.get("config_hash") in hashes]
        tested = [evaluate(claim, mine) for claim in suite.claims]
        for row, adjusted in zip(tested, holm([row.get("p_value") for row in tested]), strict=True):
            rows.append({"suite": name, **decide(row, adjusted), **tuned_by(mine)})
    return rows


def tuned_by(results: list[dict]) -> dict:
    """For a tuned suite's claims: the tuning group whose final rows they read, and whether its winners were
    retrained on the seed that chose them (a study from before references and rechecks, rnnreg < 0.5)."""
    finals = [(r.get("config") or {}).get("tuning") or {} for r in results]
    groups = {t["group"]: "finalists" not in t for t in finals if t.get("role") == "final"}
    if len(groups) != 1:
        return {}
    [(group, early)] = groups.items()
    return {"tuning_group": group, "selecting_seed_in_finals": early}


def test_against(values: list[float], against: float, out: dict, numbers: dict) -> dict:
    """A one-sample t-test of the per-seed values against `against`: p, the effect (mean − against) with
    its 95 % interval, and the seeds 80 % power would need for an effect of this size."""
    low, high = t_interval(values)
    effect = statistics.fmean(values) - against if values else None
    spread = statistics.stdev(values) if len(values) > 1 else None
    return {**out, "n": len(values), "p_value": one_sample_p_value(values, against), "effect": effect,
            "effect_ci": [low - against, high - against] if low is not None and high is not None else None,
            "seeds_for_power": seeds_for_power(effect, spread) if effect is not None and spread is not None else None,
            "numbers": numbers}


def evaluate(claim: Claim, results: list[dict]) -> dict:
    """The claim's test, numbers and n, with `wanted`: the sign of the effect the claim asserts; its status
    comes from `decide`, once the suite's p-values are corrected together."""
    results = [r for r in results if r["task"]["name"] == claim.fields["task"] and r["status"] == "ok"]
    out: dict[str, Any] = {"claim": claim.text, "kind": claim.kind}
    f = claim.fields
    if claim.kind in ("compare", "metrics", "overfit-more"):
        if claim.kind == "compare":
            a, b = values_by_seed(results, f["a"], f["metric"]), values_by_seed(results, f["b"], f["metric"])
            names = (f["a"], f["b"])
        elif claim.kind == "metrics":
            a, b = values_by_seed(results, f["a"], f["m1"]), values_by_seed(results, f["a"], f["m2"])
            names = (f["m1"], f["m2"])
        else:
            a, b = margin_by_seed(results, f["a"]), margin_by_seed(results, f["b"])
            names = (f"{f['a']} margin", f"{f['b']} margin")
        x, y = paired(a, b)
        means = {names[0]: statistics.fmean(x) if x else None, names[1]: statistics.fmean(y) if y else None}
        out = test_against([u - v for u, v in zip(x, y, strict=True)], 0.0, out, means)
        wanted = 1 if claim.kind == "overfit-more" or f.get("op") == ">" else -1
        return {**out, "test": "paired t-test over shared seeds", "wanted": wanted}
    if claim.kind in ("gap", "signed-gap"):
        m1, m2 = values_by_seed(results, f["a"], f["m1"]), values_by_seed(results, f["a"], f["m2"])
        shared = [s for s in sorted(set(m1) & set(m2)) if m2[s]]
        signed = [(m1[s] - m2[s]) / abs(m2[s]) for s in shared]
        gaps = [abs(g) for g in signed] if claim.kind == "gap" else signed
        numbers: dict[str, Any] = {"mean_gap": statistics.fmean(gaps) if gaps else None,
                                   "signed_gap": statistics.fmean(signed) if signed else None,
                                   f"{f['m1']} above {f['m2']}": f"{sum(g > 0 for g in signed)} of {len(signed)} seeds"}
        out = test_against(gaps, f["bound"], out, numbers)
        return {**out, "bound": f["bound"], "test": "one-sample t-test of the per-seed relative gap against the bound",
                "wanted": -1}
    margins = list(margin_by_seed(results, f["a"]).values())
    out = test_against(margins, OVERFIT_TOLERANCE, out,
                       {"mean_margin": statistics.fmean(margins) if margins else None})
    return {**out, "test": f"one-sample t-test of the overfitting margin against {OVERFIT_TOLERANCE:g}",
            "wanted": 1 if f["neg"] == "overfits" else -1}


def check(claim: Claim, results: list[dict]) -> dict:
    """One claim on its own (no correction for others): its row with its status."""
    row = evaluate(claim, results)
    return decide(row, row.get("p_value"))


def decide(row: dict, adjusted: float | None) -> dict:
    """holds / contradicted / inconclusive from the corrected p and the direction the effect went."""
    row = {**row, "p_adjusted": adjusted}
    wanted = row.pop("wanted")
    if adjusted is None or adjusted >= ALPHA or not row.get("effect"):
        return {**row, "status": "inconclusive"}
    went = 1 if row["effect"] > 0 else -1
    return {**row, "status": "holds" if went == wanted else "contradicted", "seeds_for_power": None}
