"""Claims: statements a suite makes about its own results, checked against them with a test and n.

A suite lists claims, one per line, in three forms (labels are the suite's regularizer labels):

    variational < zaremba on synthetic-lm valid_perplexity     # or >: the metric's means, paired by seed
    |valid_perplexity_mc - valid_perplexity| / valid_perplexity < 0.02 for variational on synthetic-lm
    none overfits on synthetic-sentiment                        # or: variational does not overfit on ...

Each is `holds`, `contradicted` or `inconclusive`:
  - a comparison by a paired t-test over the seeds both rows have: it holds when the difference goes the
    claimed way with p < 0.05, is contradicted when it goes the other way with p < 0.05;
  - a relative gap by the 95 % t-interval of the per-seed gap: it holds when the whole interval lies
    below the bound, is contradicted when the whole interval lies above it;
  - overfitting by the per-seed excess of the last epoch's validation metric over its best epoch's,
    relative to the best: a model overfits when the 95 % t-interval of that excess lies above 1 %, and
    does not when it lies below 1 %.
With fewer than two seeds nothing can be tested: every claim is inconclusive.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from typing import Any

from rnnreg.errors import RnnregError
from rnnreg.leaderboard import ALPHA, paired_p_value, t_interval

OVERFIT_TOLERANCE = 0.01  # relative excess of the last epoch over the best below which a curve is flat

LABEL = r"(?P<{}>\S+)"
FORMS = {
    "compare": re.compile(rf"^{LABEL.format('a')}\s*(?P<op>[<>])\s*{LABEL.format('b')}"
                          r"\s+on\s+(?P<task>\S+)\s+(?P<metric>\w+)$"),
    "gap": re.compile(r"^\|\s*(?P<m1>\w+)\s*-\s*(?P<m2>\w+)\s*\|\s*/\s*(?P<m3>\w+)\s*<\s*(?P<bound>[0-9.eE+-]+)"
                      rf"\s+for\s+{LABEL.format('a')}\s+on\s+(?P<task>\S+)$"),
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
            if kind == "gap":
                if fields["m2"] != fields["m3"]:
                    raise RnnregError(f"{where}: claim {line!r} divides by {fields['m3']}, not by {fields['m2']}")
                try:
                    fields["bound"] = float(fields["bound"])
                except ValueError:
                    raise RnnregError(f"{where}: claim {line!r} has bound {fields['bound']!r}, not a number") from None
            return Claim(line, kind, fields)
    raise RnnregError(f"{where}: cannot read claim {line!r} (forms: 'A < B on TASK METRIC', "
                      "'|M1 - M2| / M2 < X for A on TASK', 'A overfits on TASK', 'A does not overfit on TASK')")


def check_claim_names(claim: Claim, labels: set[str], tasks: set[str], where: str) -> None:
    for key in ("a", "b"):
        name = claim.fields.get(key)
        if name is not None and name not in labels:
            raise RnnregError(f"{where}: claim {claim.text!r} names {name!r}, which is not a label of this suite "
                              f"({', '.join(sorted(labels))})")
    if claim.fields["task"] not in tasks:
        raise RnnregError(f"{where}: claim {claim.text!r} names task {claim.fields['task']!r}, which this suite "
                          f"does not run ({', '.join(sorted(tasks))})")


def values_by_seed(results: list[dict], label: str, metric: str) -> dict[int, float]:
    return {r["seed"]: r["metrics"][metric]["value"] for r in results
            if r["regularizer"]["label"] == label and r["status"] == "ok" and metric in r["metrics"]}


def overfit_excess(result: dict) -> float | None:
    """(last − best) / best of the validation primary metric over the epochs (lower is better metrics)."""
    metric = f"valid_{result['task'].get('primary_metric', 'perplexity')}"
    curve = [epoch[metric] for epoch in result.get("curves", []) if metric in epoch]
    if not curve:
        return None
    best = min(curve) if not result["metrics"][metric]["higher_is_better"] else max(curve)
    return abs(curve[-1] - best) / abs(best) if best else None


def suites_named(results: list[dict]) -> list[tuple[str, str | None]]:
    """(name, source) of every suite that wrote a result here."""
    named = {(r["suite"]["name"], r["suite"].get("source")) for r in results
             if isinstance(r.get("suite"), dict) and r["suite"].get("name")}
    return sorted(named, key=lambda item: (item[0], item[1] or ""))


def evaluate_all(results: list[dict], suites: list[tuple]) -> list[dict]:
    """Every claim of every (name, suite, config hashes) on the results whose config is one of the suite's
    jobs (so a result another suite wrote counts when its configuration is the same, and a stale one —
    another version, other settings — never does)."""
    rows = []
    for name, suite, hashes in suites:
        mine = [r for r in results if r.get("config_hash") in hashes]
        for claim in suite.claims:
            rows.append({"suite": name, **evaluate(claim, mine)})
    return rows


def evaluate(claim: Claim, results: list[dict]) -> dict:
    """The claim's status with its test, numbers and n, from the results of its suite on its task."""
    results = [r for r in results if r["task"]["name"] == claim.fields["task"] and r["status"] == "ok"]
    out: dict[str, Any] = {"claim": claim.text, "kind": claim.kind}
    if claim.kind == "compare":
        metric = claim.fields["metric"]
        a, b = values_by_seed(results, claim.fields["a"], metric), values_by_seed(results, claim.fields["b"], metric)
        shared = sorted(set(a) & set(b))
        mean_a = statistics.fmean(a[s] for s in shared) if shared else None
        mean_b = statistics.fmean(b[s] for s in shared) if shared else None
        p = paired_p_value(a, b)
        out.update(test="paired t-test over shared seeds", n=len(shared), p_value=p,
                   numbers={claim.fields["a"]: mean_a, claim.fields["b"]: mean_b})
        if p is None or p >= ALPHA or mean_a is None or mean_b is None:
            return {**out, "status": "inconclusive"}
        claimed_less = claim.fields["op"] == "<"
        return {**out, "status": "holds" if (mean_a < mean_b) == claimed_less else "contradicted"}
    if claim.kind == "gap":
        m1 = values_by_seed(results, claim.fields["a"], claim.fields["m1"])
        m2 = values_by_seed(results, claim.fields["a"], claim.fields["m2"])
        gaps = [abs(m1[s] - m2[s]) / abs(m2[s]) for s in sorted(set(m1) & set(m2)) if m2[s]]
        low, high = t_interval(gaps)
        out.update(test="95 % t-interval of the per-seed relative gap", n=len(gaps), bound=claim.fields["bound"],
                   numbers={"mean_gap": statistics.fmean(gaps) if gaps else None, "ci_low": low, "ci_high": high})
        if low is None or high is None:
            return {**out, "status": "inconclusive"}
        bound = claim.fields["bound"]
        status = "holds" if high < bound else "contradicted" if low > bound else "inconclusive"
        return {**out, "status": status}
    excess = [e for r in results if r["regularizer"]["label"] == claim.fields["a"]
              for e in [overfit_excess(r)] if e is not None and not math.isnan(e)]
    low, high = t_interval(excess)
    out.update(test=f"95 % t-interval of (last − best epoch) / best validation metric, against {OVERFIT_TOLERANCE:g}",
               n=len(excess), numbers={"mean_excess": statistics.fmean(excess) if excess else None,
                                       "ci_low": low, "ci_high": high})
    if low is None or high is None:
        return {**out, "status": "inconclusive"}
    overfits, flat = low > OVERFIT_TOLERANCE, high < OVERFIT_TOLERANCE
    claimed = claim.fields["neg"] == "overfits"
    if overfits:
        status = "holds" if claimed else "contradicted"
    elif flat:
        status = "contradicted" if claimed else "holds"
    else:
        status = "inconclusive"
    return {**out, "status": status}


def fmt_numbers(row: dict) -> str:
    if not row.get("n"):
        return "no results yet"
    parts = [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.get("numbers", {}).items()
             if v is not None]  # one seed has a mean but no interval
    if row.get("p_value") is not None:
        parts.append(f"p {row['p_value']:.3g}")
    if row.get("bound") is not None:
        parts.append(f"bound {row['bound']:g}")
    return ", ".join(parts)


CLAIM_COLUMNS = ("suite", "claim", "status", "n", "test", "numbers")


def claim_cells(row: dict) -> list[str]:
    return [row["suite"], row["claim"], row["status"], str(row["n"]), row["test"], fmt_numbers(row)]


def render_markdown(rows: list[dict]) -> str:
    out = ["## Claims\n", "What each suite claims about its results, tested on them (`rnnreg claims`).\n",
           "| " + " | ".join(CLAIM_COLUMNS) + " |", "|" + "---|" * len(CLAIM_COLUMNS)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in claim_cells(r)) + " |" for r in rows]
    return "\n".join(out) + "\n"
