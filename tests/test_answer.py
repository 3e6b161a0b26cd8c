"""The answer on top: generated sentences that say only what their evidence shows, linking to it, and the
README's copy kept in step by `leaderboard --write/--check --readme`."""

from click.testing import CliRunner

from rnnreg.answer import anchor, answer_lines
from rnnreg.cli import cli


def tuned_row(label, rank1, groups):
    return {"task": "synthetic-lm", "section": "tuned: 32 random trials + the default · 2 × 256 LSTM",
            "regularizer": label, "rank": 1, "n": 5,
            "selection": {"rank1": rank1, "groups": groups}}


def test_a_stable_tuned_order_is_said_with_its_groups_and_an_undecided_one_is_not():
    rows = [tuned_row("naive", 0.5, [["naive", "awd"], ["ar-tar"]]), tuned_row("awd", 0.45, [["naive", "awd"], ["ar-tar"]]),
            tuned_row("ar-tar", 0.05, [["naive", "awd"], ["ar-tar"]])]
    [line] = answer_lines(rows, [])
    assert "{naive, awd} ahead of {ar-tar}" in line and "probability ≥ 0.9" in line
    assert line.endswith("undecided; the most likely first is naive (P(rank 1) 0.50).")  # inside the first group
    done, running = {"outcome": 42.0}, {"outcome": None}  # a second search without finals yet: not counted
    one = [{**r, "selection": {**r["selection"], "searches": [done, running]}} for r in rows]
    assert "over 1 search per method, trials and final seeds" in answer_lines(one, [])[0]
    two = [{**r, "selection": {**r["selection"], "searches": [done] * (1 + (r is rows[0]))}} for r in rows]
    assert "over 2 searches per method (1 for awd, ar-tar), trials" in answer_lines(two, [])[0]
    assert f"(#{anchor('synthetic-lm · ' + rows[0]['section'])})" in line
    waiting = [{**r, "selection": {**r["selection"], "finals_pending": ["zoneout"]}} for r in rows]
    assert answer_lines(waiting, [])[0].endswith("(P(rank 1) 0.50); not yet ranked, finals pending: zoneout.")
    undecided = [{**r, "selection": {**r["selection"], "groups": [["naive", "awd", "ar-tar"]]}} for r in rows]
    [line] = answer_lines(undecided, [])
    assert "no order holds with probability ≥ 0.9; the most likely first is naive (P(rank 1) 0.50)" in line


def test_after_a_strength_search_each_method_is_named_at_the_strength_chosen_for_it():
    def row(label, rank, mean, chosen):
        return {"task": "ptb", "section": "tuned: 4 grid trials + the default · 2 × 200 LSTM", "regularizer": label,
                "rank": rank, "n": 3, "primary_metric": "perplexity", "metrics": {"valid_perplexity": {"mean": mean}},
                "selection": {"rank1": 0.5, "groups": [["zaremba", "variational"]],
                              "curve": {"dimension": "strength", "chosen": [chosen], "points": []}}}

    [line] = answer_lines([row("variational", 2, 101.9, 0.25), row("zaremba", 1, 101.43, 0.5)], [])
    assert ("each at the strength chosen for it on validation, valid perplexity zaremba 101.43 (strength 0.5), "
            "variational 101.90 (strength 0.25) (n 3 fresh seeds); no order holds") in line
    [line] = answer_lines([tuned_row("naive", 0.9, [["naive"], ["awd"]])], [])
    assert "chosen for it" not in line  # a search over several dimensions has no one point to name


def test_claims_are_said_only_where_decided():
    claims = [{"suite": "s", "kind": "compare", "claim": "a < b on t valid_perplexity", "status": "holds"},
              {"suite": "s", "kind": "compare", "claim": "c < b on t valid_perplexity", "status": "inconclusive"}]
    assert answer_lines([], claims) == ["- **s**, paired over seeds, Holm-corrected ([claims](#claims)): `a < b` holds."]


def test_a_tuned_suites_claims_name_their_study_and_warn_where_its_winners_chose_their_own_seed():
    """Claims on an early study's tuned rows (seed 0 of each row is its winning trial) say so; a study under
    the protocol (finals on fresh seeds) is only named."""
    from rnnreg.claims import tuned_by

    def final(group, protocol):
        tuning = {"role": "final", "group": group} | ({"finalists": 3} if protocol else {})
        return {"config": {"tuning": tuning}}

    early, later = tuned_by([final("g/random-n16", False)] * 2), tuned_by([final("g/random-n32", True)])
    assert early == {"tuning_group": "g/random-n16", "selecting_seed_in_finals": True}
    assert tuned_by([final("a", True), final("b", True)]) == {} and tuned_by([{"config": {}}]) == {}
    claim = {"suite": "s", "kind": "compare", "claim": "a < b on t valid_perplexity", "status": "holds"}
    [line] = answer_lines([], [claim | early])
    assert line.startswith("- **s** (tuned rows of g/random-n16, an early study: each row's seed 0 is the trial "
                           "that chose it, which flatters the winners), paired over seeds")
    [line] = answer_lines([], [claim | later])
    assert line.startswith("- **s** (tuned rows of g/random-n32), paired over seeds")


def test_the_readme_answer_is_written_between_its_markers_and_checked(tmp_path):
    results = tmp_path / "results"
    suite = tmp_path / "s.yaml"
    suite.write_text("seeds: 2\nevaluation: {mc_samples: 0}\ntasks: {synthetic-sentiment: {model: {hidden_size: 8, "
                     "embed_size: 8}, train: {epochs: 2}}}\nregularizers: [none, zaremba]\n"
                     "claims: ['zaremba < none on synthetic-sentiment valid_error']\n")
    assert CliRunner().invoke(cli, ["run", "--suite", str(suite), "--results-dir", str(results)]).exit_code == 0
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- rnnreg:answer -->\nhand-written, stale\n<!-- /rnnreg:answer -->\n\nmore\n")
    board = tmp_path / "docs" / "BOARD.md"
    board.parent.mkdir()
    args = ["leaderboard", str(results), "--readme", str(readme)]
    assert CliRunner().invoke(cli, [*args, "--write", str(board)]).exit_code == 0
    text = readme.read_text()
    assert "hand-written" not in text and text.startswith("# x\n") and text.endswith("\nmore\n")
    assert CliRunner().invoke(cli, [*args, "--check", str(board)]).exit_code == 0
    readme.write_text(text.replace("<!-- /rnnreg:answer -->", "edited\n<!-- /rnnreg:answer -->"))
    stale = CliRunner().invoke(cli, [*args, "--check", str(board)])
    assert stale.exit_code == 1 and "answer is out of date" in stale.output
