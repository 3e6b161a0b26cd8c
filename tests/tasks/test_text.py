"""The real-data tasks, on the staged datasets. CI has them (RNNREG_DATA_DIR=../shared/data); elsewhere
these tests skip and say why."""

import pytest

from rnnreg.data import DATASETS, check, resolve_data_dir

DATA_DIR = resolve_data_dir()[0]


def needs(name):
    state, _ = check(DATASETS[name], DATA_DIR / name)
    return pytest.mark.skipif(state != "verified", reason=f"dataset {name!r} is not verified in {DATA_DIR} "
                              "(set RNNREG_DATA_DIR to the staged data, as CI does)")


@needs("ptb")
def test_ptb_matches_the_published_counts(plugins):
    data = plugins.tasks.get("ptb").cls().load(DATA_DIR)
    assert (len(data.train), len(data.valid), len(data.test), data.vocab_size) == (929_589, 73_760, 82_430, 10_000)


@needs("wikitext-2")
def test_wikitext2_matches_the_published_counts(plugins):
    data = plugins.tasks.get("wikitext-2").cls().load(DATA_DIR)
    assert (len(data.train), len(data.valid), len(data.test), data.vocab_size) == (2_088_628, 217_646, 245_569, 33_278)


@needs("scaledata")
def test_sentiment_scale_segments_keep_their_review_rating(plugins):
    task = plugins.tasks.get("sentiment-scale").cls()
    data = task.load(DATA_DIR)
    tokens, ratings = data.train
    assert tokens.shape[1] == 200 and data.num_outputs == 1
    assert 0 <= ratings.min() and ratings.max() <= 1
    # 5,006 reviews, 70/10/20 by review: every review gives at least one segment
    assert sum(len(split[1]) for split in (data.train, data.valid, data.test)) > 5006


@needs("rt-polarity")
def test_polarity_reads_windows_1252_and_balances_classes(plugins):
    data = plugins.tasks.get("sentiment-polarity").cls().load(DATA_DIR)
    total = sum(len(split[1]) for split in (data.train, data.valid, data.test))
    assert total == 10_662
    assert abs(data.train[1].float().mean().item() - 0.5) < 0.02


@needs("ptb")
def test_ptb_smoke_suite_learns(plugins, tmp_path):
    """CI's smoke run: a few hundred steps on real PTB bring perplexity far below the uniform 10,000."""
    from rnnreg.jobs import expand
    from rnnreg.runner import Runner
    from rnnreg.suite import load_suite

    suite = load_suite("ptb-smoke", plugins)
    results = Runner(plugins, tmp_path, data_dir=DATA_DIR).run(expand(suite, plugins))
    assert [r["status"] for r in results] == ["ok", "ok"]
    for r in results:
        assert r["metrics"]["valid_perplexity"]["value"] < 1000
    assert results[1]["metrics"]["test_perplexity_mc"]["value"] > 0
