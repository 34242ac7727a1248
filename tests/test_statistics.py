"""The numbers behind every figure's interval and every "best": checked against known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genbench.evaluate import distances, fidelity, intervals, memorisation, protocol
from genbench.metric_table import IntervalKind, Metric
from genbench.models import ddpm
from genbench.report import results
from genbench.train import loop
from genbench.validate import whole_schema


def test_wilson_interval_matches_its_closed_form():
    for successes, n in ((0, 10), (7, 10), (355, 360), (360, 360)):
        p, z = successes / n, 1.959963984540054
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        assert intervals.wilson(successes, n) == pytest.approx([centre - half, centre + half], abs=1e-12)


def test_bootstrap_interval_covers_a_known_mean_about_95_percent_of_the_time():
    """Enough repeats to tell 95% from 80%: at 95%, 300 repeats cover 285 on average (sd 3.8)."""
    rng = np.random.default_rng(0)
    covered = 0
    for repeat in range(300):
        values = rng.exponential(1.0, 60)  # skewed, true mean 1
        low, high = intervals.bootstrap_mean(values, resamples=400, seed=repeat)
        covered += low <= 1.0 <= high
    assert 0.88 <= covered / 300 <= 0.99, covered


def test_a_bootstrap_is_seeded():
    values = np.random.default_rng(1).normal(size=50)
    assert intervals.bootstrap_mean(values, 100, seed=3) == intervals.bootstrap_mean(values, 100, seed=3)
    assert intervals.bootstrap_mean(values, 100, seed=3) != intervals.bootstrap_mean(values, 100, seed=4)


def test_fid_interval_brackets_its_estimate_though_resamples_inflate_fid():
    real, fake = (torch.from_numpy(np.random.default_rng(s).normal(size=(60, 16))) for s in (1, 2))
    estimate = distances.fid_numpy(real.numpy(), fake.numpy())
    low, high = intervals.bootstrap_two_sets(distances.fid_numpy, real.numpy(), fake.numpy(), 100, seed=0)
    assert low < estimate < high


def test_several_sets_scored_against_one_real_set_agree_with_torchmetrics_each():
    rng = np.random.default_rng(5)
    real = torch.from_numpy(rng.normal(0.0, 1.0, size=(80, 6)))
    fakes = [
        torch.from_numpy(rng.normal(loc, scale, size=(n, 6))) for loc, scale, n in ((0.3, 1.2, 80), (-0.2, 0.7, 60))
    ]
    scored = distances.fids_numpy(real.numpy(), [f.numpy() for f in fakes])
    assert scored == [distances.fid_numpy(real.numpy(), f.numpy()) for f in fakes]
    assert scored == pytest.approx([fidelity.fid(real, f) for f in fakes], rel=1e-6)


def test_fid_and_kid_on_whole_sets_agree_with_torchmetrics():
    real, fake = (
        torch.from_numpy(np.random.default_rng(s).normal(loc, 1.0, size=(80, 6))) for s, loc in ((1, 0.0), (2, 0.3))
    )
    assert distances.fid_numpy(real.numpy(), fake.numpy()) == pytest.approx(fidelity.fid(real, fake), rel=1e-6)
    # KID over one subset of every image is the unbiased MMD of the whole sets.
    from torchmetrics.image.kid import KernelInceptionDistance

    from genbench.evaluate.features import Precomputed

    kid = KernelInceptionDistance(feature=Precomputed(6), subsets=1, subset_size=80)
    kid.update(real, real=True)
    kid.update(fake, real=False)
    assert distances.mmd_numpy(real.numpy(), fake.numpy()) == pytest.approx(float(kid.compute()[0]), rel=1e-6)


def test_mcnemar_is_the_exact_binomial_test_on_the_disagreements():
    a = np.array([True] * 10 + [False] * 2 + [True] * 50)
    b = np.array([False] * 10 + [True] * 2 + [True] * 50)
    # 10 images only a gets right, 2 only b: p = 2 * P(X <= 2), X ~ Binomial(12, 1/2).
    assert intervals.mcnemar(a, b) == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert intervals.mcnemar(a, a) == 1.0


def test_holm_adjusts_step_down_and_keeps_the_order():
    assert intervals.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert intervals.holm([0.5]) == [0.5]


def test_mean_interval_is_the_t_interval():
    from scipy import stats

    values = [0.91, 0.93, 0.92]
    summary = intervals.mean_interval(values)
    low, high = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    assert (summary["low"], summary["high"]) == pytest.approx((low, high))
    assert intervals.mean_interval([0.9])["low"] is None


def cell(values, half=None):
    return results.Cell(list(range(len(values))), values, [[v - half, v + half] if half else None for v in values])


def test_best_only_when_a_test_separates_it_and_tied_otherwise():
    comparison = results.Comparison()
    apart = {"a": cell([10.0, 10.1, 10.2]), "b": cell([20.0, 20.1, 20.3]), "c": cell([30.0, 30.2, 30.1])}
    assert results.marks("fid", "min", apart, comparison) == {"a": "best"}
    close = {"a": cell([10.0, 12.0, 11.0]), "b": cell([10.5, 12.5, 11.4]), "c": cell([30.0, 30.2, 30.1])}
    assert results.marks("fid", "min", close, comparison) == {"a": "tied", "b": "tied"}
    # One seed: the intervals over images decide.
    assert results.marks("precision", "max", {"a": cell([0.9], 0.01), "b": cell([0.5], 0.01)}, comparison) == {
        "a": "best"
    }
    assert results.marks("precision", "max", {"a": cell([0.9], 0.2), "b": cell([0.8], 0.2)}, comparison) == {
        "a": "tied",
        "b": "tied",
    }
    assert results.marks("fit", "min", {"a": cell([1.0]), "b": cell([2.0])}, comparison) == {}, (
        "no interval, one seed: no test"
    )


def test_accuracy_marks_come_from_mcnemar_on_the_same_images():
    rng = np.random.default_rng(0)
    truth = rng.random(400)
    comparison = results.Comparison(
        correct={"good": {0: truth < 0.95}, "poor": {0: truth < 0.80}, "twin": {0: truth < 0.949}}
    )
    cells = {name: cell([float(np.mean(c[0]))], 0.03) for name, c in comparison.correct.items()}
    assert results.marks("accuracy", "max", cells, comparison) == {"good": "tied", "twin": "tied"}


def test_the_ema_warms_up_so_the_first_weights_fade():
    """A network that holds one value for an update, then another for 99: the average forgets the first.
    With a fixed decay of 0.999 from the first update, 0.999^99 = 91% of it would remain."""
    cfg = ddpm.config(whole_schema()().generative.ddpm.model_copy(update={"base_channels": 8}), (1, 8, 8), 10)
    modules = ddpm.build(cfg)
    ddpm.recipe(modules, whole_schema()().generative.ddpm, loop.execution_on(torch.device("cpu")))
    unet, ema = modules["unet"], modules["ema"]
    with torch.no_grad():
        for p in unet.parameters():
            p.fill_(1.0)
        ema.update_parameters(unet)
        for p in unet.parameters():
            p.fill_(0.0)
        for _ in range(99):
            ema.update_parameters(unet)
    first_share = max(float(p.abs().max()) for p in ema.module.parameters())
    assert first_share < 1e-6, f"{first_share:.3f} of the first weights remain"


def split_arrays(n_test=300, n_val=120, n_train=500):
    rng = np.random.default_rng(0)
    # Unbalanced classes, as in MNIST's test split.
    labels = lambda n: rng.choice(10, n, p=np.r_[0.16, np.full(9, 0.84 / 9)])  # noqa: E731
    return {
        f"{kind}_{split}": (rng.random((n, 1, 4, 4)).astype(np.float32) if kind == "x" else labels(n))
        for split, n in (("train", n_train), ("val", n_val), ("test", n_test))
        for kind in ("x", "y")
    }


def test_samples_are_drawn_for_the_classes_of_the_test_images_they_are_compared_with():
    arrays = split_arrays()
    params = whole_schema()(evaluate={"n_samples": 100})
    x, y = protocol.test_subset(params, arrays)
    assert len(x) == protocol.eval_size(params, arrays) == 100
    assert np.array_equal(protocol.sample_labels(params, arrays, conditional=True), y), "one rule: the same class mix"
    assert (protocol.sample_labels(params, arrays, conditional=False) == -1).all()
    # Stratified: the compared images keep the test split's class mix.
    assert abs(np.mean(y == 0) - np.mean(arrays["y_test"] == 0)) < 0.02
    # The floor is held-out images, as many as the compared ones, none a model trained on.
    floor, _ = protocol.floor_subset(params, arrays, len(x))
    assert len(floor) == len(x) and all(any(np.array_equal(f, v) for v in arrays["x_val"]) for f in floor)
    assert protocol.eval_size(whole_schema()(evaluate={"n_samples": 1000}), arrays) == 120, (
        "never more than the validation split holds"
    )


def test_memorisation_share_is_one_for_copies_and_about_half_for_held_out_images():
    rng = np.random.default_rng(0)
    train, test, held_out = (torch.from_numpy(rng.normal(size=(300, 8))) for _ in range(3))
    assert memorisation.measure(train + 1e-3, test, train)["closer_to_train"] == 1.0
    assert 0.4 < memorisation.measure(held_out, test, train)["closer_to_train"] < 0.6


def test_kid_resamples_at_once_equal_kid_of_each_resample():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(50, 4)), rng.normal(0.2, 1.0, size=(50, 4))
    chosen = [rng.integers(0, 50, 50) for _ in range(3)], [rng.integers(0, 50, 50) for _ in range(3)]
    counts = [np.stack([np.bincount(i, minlength=50) for i in side], axis=1).astype(float) for side in chosen]
    at_once = distances.mmd_of_resamples(real, fake, *counts)
    one_by_one = [distances.mmd_numpy(real[i], fake[j]) for i, j in zip(*chosen)]
    assert at_once == pytest.approx(one_by_one, rel=1e-9)


def test_replicates_that_do_not_vary_are_compared_on_their_images():
    """Three identical replicates have no spread across seeds: Welch would call any gap certain."""
    comparison = results.Comparison()
    same = {"a": cell([0.900] * 3, 0.03), "b": cell([0.899] * 3, 0.03)}
    assert results.marks("macro_f1", "max", same, comparison) == {"a": "tied", "b": "tied"}
    apart = {"a": cell([0.95] * 3, 0.01), "b": cell([0.80] * 3, 0.01)}
    assert results.marks("macro_f1", "max", apart, comparison) == {"a": "best"}


def test_latex_table_escapes_names_and_marks_as_the_page():
    rows = [
        {"model": "my_model", "cells": {"fid": cell([2.0, 2.2])}, "marks": {"fid": "best"}},
        {"model": "b&c", "cells": {"fid": cell([5.0, 5.4])}, "marks": {"fid": None}},
    ]
    fid = Metric("fid", "FID", "min", "{:.1f}", IntervalKind.BIAS_SHIFTED_BOOTSTRAP)
    table = results.latex_table("100% {x}\\y", (fid,), rows)
    assert r"\caption{100\% \{x\}\textbackslash{}y}" in table
    assert r"my\_model & \textbf{2.1 $\pm$ 0.1} \\" in table and r"b\&c & 5.2 $\pm$ 0.3 \\" in table
    assert table.index(r"\toprule") < table.index(r"\midrule") < table.index(r"\bottomrule")


def test_a_model_the_seed_does_not_change_shows_its_interval_over_images():
    assert cell([0.9, 0.9, 0.9], 0.02).text("{:.2f}") == "0.90 ± 0.02"
    assert cell([0.9527777777777777] * 3, 0.02).low_high == pytest.approx((0.9327777777777777, 0.9727777777777777)), (
        "a mean of equal floats can differ from them in the last bit"
    )
    assert (
        cell([0.9, 0.92, 0.94], 0.02).text("{:.2f}")
        == f"0.92 ± {intervals.mean_interval([0.9, 0.92, 0.94])['high'] - 0.92:.2f}"
    )


def test_kid_of_samples_drawn_for_the_compared_classes_is_unbiased_not_negative():
    """Two sets from one class-structured distribution, the second drawn for the first's classes: the
    unpaired estimate counts the matched same-class pairs and reads below zero; the paired one does not."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, size=(10, 8))
    unpaired, paired = [], []
    for _ in range(20):
        labels = rng.integers(0, 10, 200)
        real, fake = (centres[labels] + rng.normal(size=(200, 8)) for _ in range(2))
        unpaired.append(distances.mmd_numpy(real, fake))
        paired.append(distances.mmd_numpy(real, fake, paired=True))
    spread = np.std(paired) / np.sqrt(len(paired))
    assert np.mean(unpaired) < -5 * spread, "the bias the paired estimate removes"
    assert abs(np.mean(paired)) < 3 * spread


def test_named_random_streams_are_repeatable_and_apart():
    from genbench import randomness

    assert randomness.seed_of(0, "samples") == randomness.seed_of(0, "samples")
    assert (
        len({randomness.seed_of(seed, name) for seed in (0, 1, 2) for name in ("samples", "views", "likelihood")}) == 9
    )
    first, second = (randomness.numpy_generator(seed, "samples").random(2000) for seed in (0, 1))
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.1, "consecutive seeds give unrelated streams"
    assert torch.equal(
        torch.rand(5, generator=randomness.torch_generator(3, "views")),
        torch.rand(5, generator=randomness.torch_generator(3, "views")),
    )
