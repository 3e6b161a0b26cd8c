"""How claims are shown (`rnnreg claims`, the board's Claims section, the report): the cells of a checked
claim and the markdown section. claims.py parses and decides them; this module only presents."""

from __future__ import annotations

from rnnreg.significance import MAX_SEEDS
from rnnreg.tables import markdown_table


def fmt_numbers(row: dict) -> str:
    if not row.get("n"):
        return "no results yet"
    parts = [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.get("numbers", {}).items()
             if v is not None]  # one seed has a mean but no interval
    if row.get("effect") is not None:
        interval = row.get("effect_ci")
        shown = f"[{interval[0]:+.3g}, {interval[1]:+.3g}]" if interval else "(1 seed: no interval)"
        parts.append(f"effect {row['effect']:+.3g} {shown}")
    if row.get("bound") is not None:
        parts.append(f"bound {row['bound']:g}")
    return ", ".join(parts)


def fmt_p(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


CLAIM_COLUMNS = ("suite", "claim", "status", "n", "test", "numbers", "p", "p (Holm)", "seeds for 80 % power")


def claim_cells(row: dict) -> list[str]:
    power = row.get("seeds_for_power")
    if row["status"] != "inconclusive" or not row.get("n"):
        needed = "–"
    elif row["n"] < 2:
        needed = "2+ seeds to estimate"  # no spread from one seed, so no power either
    else:
        needed = str(power) if power is not None else f"over {MAX_SEEDS} (no effect seen)"
    return [row["suite"], row["claim"], row["status"], str(row["n"]), row["test"], fmt_numbers(row),
            fmt_p(row.get("p_value")), fmt_p(row.get("p_adjusted")), needed]


def render_markdown(rows: list[dict]) -> str:
    out = ["## Claims\n", "What each suite claims about its results, tested on them (`rnnreg claims`): t-tests over "
           "seeds at 0.05, a suite's p-values corrected together by Holm's method (the status uses the corrected "
           "p); an effect is the claim's difference (or gap minus bound) with its 95 % interval; an inconclusive "
           "claim says how many paired seeds would detect an effect of its observed size at 80 % power (at 0.05, "
           "before the correction).\n",
           *markdown_table(CLAIM_COLUMNS, [claim_cells(r) for r in rows])]
    return "\n".join(out) + "\n"
