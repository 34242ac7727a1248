"""The generative models' evaluation: FID, KID, precision/recall, CAS and likelihood bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genbench import artifacts, pipeline
from genbench.evaluate import cas, comparison, distances, features, fidelity, intervals
from genbench.models import base, ddpm, diffusion, featurenet, vae
from genbench.train import loop
from genbench.validate import whole_schema


def gaussian(n: int, mean, cov, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).multivariate_normal(mean, cov, size=n))


def closed_form_frechet(mu1, cov1, mu2, cov2) -> float:
    from scipy.linalg import sqrtm

    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1 + cov2 - 2 * sqrtm(cov1 @ cov2).real))


def test_fid_of_a_set_against_itself_is_zero():
    x = gaussian(500, np.zeros(16), np.diag(np.linspace(0.5, 4, 16)), seed=0) + 3.0
    assert abs(fidelity.fid(x, x)) < 1e-6


def test_fid_matches_the_closed_form_frechet_distance():
    mu_a, mu_b = np.zeros(4), np.array([1.0, -0.5, 0.0, 2.0])
    cov_a = np.diag([1.0, 2.0, 0.5, 1.5])
    cov_b = np.array([[1.0, 0.3, 0.0, 0.0], [0.3, 1.0, 0.2, 0.0], [0.0, 0.2, 2.0, 0.4], [0.0, 0.0, 0.4, 1.0]])
    a, b = gaussian(20_000, mu_a, cov_a, seed=1), gaussian(20_000, mu_b, cov_b, seed=2)
    measured = fidelity.fid(a, b)
    # Against the sets' own means and (unbiased) covariances only rounding differs: eigenvalues
    # of a product (torchmetrics) against scipy's matrix square root, both in float64.
    own = closed_form_frechet(a.mean(0).numpy(), np.cov(a.T.numpy()), b.mean(0).numpy(), np.cov(b.T.numpy()))
    assert measured == pytest.approx(own, rel=1e-9)
    # Against the true parameters, sampling error: each mean is off by about sqrt(trace/n) = 0.011
    # per set, moving |mu_a - mu_b|^2 (5.25) by about 2 * 2.3 * 0.016 = 0.07 (one standard deviation);
    # the covariance terms move less (about 0.02). 0.15 is two standard deviations of the sum.
    assert measured == pytest.approx(closed_form_frechet(mu_a, cov_a, mu_b, cov_b), abs=0.15)


def test_precision_recall_limits():
    real = gaussian(300, np.zeros(8), np.eye(8), seed=3)
    assert precision_recall(real, real.clone()) == (1.0, 1.0)
    far = gaussian(300, np.full(8, 100.0), np.eye(8), seed=4)
    assert precision_recall(real, far) == (0.0, 0.0)


def test_a_collapsed_model_has_full_precision_and_no_recall_or_coverage():
    """One real image repeated: every sample is realistic, and they cover nothing else. The swap of the two
    (torch-fidelity issue #58) would read 0 and 1."""
    real = gaussian(300, np.zeros(8), np.eye(8), seed=6)
    collapsed = real[17].repeat(300, 1)
    measures = fidelity.manifold_measures(real, collapsed, k=3)
    assert measures.precision.mean() == 1.0
    assert measures.recall.mean() == pytest.approx(1 / 300), (
        "only the repeated image itself lies in the samples' manifold"
    )
    # The real balls holding the repeated image: its own and those of the few points it is a near neighbour of.
    covered = measures.coverage.sum()
    assert 1 <= covered <= 10 and measures.coverage.mean() < 0.04
    assert measures.density.mean() == pytest.approx(covered / 3), "every sample sits in the same balls"


def test_density_and_coverage_of_one_distribution_match_their_expectations():
    """Naeem et al. (2020), for two samples of one distribution: the expected density is 1, and the expected
    coverage 1 - prod_{i=1..k} (N - i) / (N + M - i), 1 - 1/8 at k = 3 and N = M."""
    real, fake = gaussian(3000, np.zeros(6), np.eye(6), seed=10), gaussian(3000, np.zeros(6), np.eye(6), seed=11)
    measures = fidelity.manifold_measures(real, fake, k=3)
    expected_coverage = 1 - np.prod([(3000 - i) / (6000 - i) for i in range(1, 4)])
    # Binomial spread of a share of 3,000 near 0.875 is 0.006; 0.02 is three of them.
    assert measures.coverage.mean() == pytest.approx(expected_coverage, abs=0.02)
    assert measures.density.mean() == pytest.approx(1.0, abs=0.05)
    shifted = fidelity.manifold_measures(real, fake + 1.0, k=3)
    assert shifted.density.mean() < 0.6 and shifted.coverage.mean() < 0.7


def test_intra_class_fid_sees_classes_drawn_for_the_wrong_label():
    """Samples that show class c + 1 when asked for c have the real class mix, and so the real set's FID, but
    every class's own FID is far off."""
    rng = np.random.default_rng(12)
    centres = rng.normal(0, 4, size=(5, 8))
    labels = np.arange(500) % 5
    real, fake = centres[labels] + rng.normal(size=(500, 8)), centres[labels] + rng.normal(size=(500, 8))
    swapped = centres[(labels + 1) % 5] + rng.normal(size=(500, 8))
    assert distances.fid_numpy(real, swapped) < 1.0
    assert distances.intra_class_fid(real, labels, fake, labels) < 1.0
    assert distances.intra_class_fid(real, labels, swapped, labels) > 20 * distances.intra_class_fid(
        real, labels, fake, labels
    )
    assert distances.intra_class_fid(real, labels, real, labels) == pytest.approx(0.0, abs=1e-9)


def test_intra_class_fid_without_two_images_of_a_class_on_both_sides_is_undefined_and_has_no_interval():
    real, fake = (
        gaussian(6, np.zeros(4), np.eye(4), seed=15).numpy(),
        gaussian(6, np.ones(4), np.eye(4), seed=16).numpy(),
    )
    scored = comparison.intra_class_fid(real, fake, np.arange(6), np.arange(6), resamples=20, seed=0)
    assert math.isnan(scored["intra_class_fid"]) and scored["intra_class_fid_interval"] is None
    scored = comparison.intra_class_fid(real, fake, np.arange(6) % 2, np.arange(6) % 2, resamples=20, seed=0)
    low, high = scored["intra_class_fid_interval"]
    assert low < scored["intra_class_fid"] < high


def test_fid_of_sets_smaller_than_the_feature_dimension_agrees_with_torchmetrics():
    """Per-class sets (36 images of 128 features on digits) take the singular-value route in fid_numpy."""
    real, fake = (
        gaussian(36, np.zeros(128), np.eye(128), seed=13),
        gaussian(40, np.full(128, 0.2), np.eye(128), seed=14),
    )
    assert distances.fid_numpy(real.numpy(), fake.numpy()) == pytest.approx(fidelity.fid(real, fake), rel=1e-6)


def test_a_set_covering_half_the_modes_has_recall_near_one_half():
    # Ten far-apart modes in 2-D, where k-NN balls of a few hundred points cover a mode almost whole.
    rng = np.random.default_rng(5)
    centres = np.stack([np.cos(np.arange(10) * 0.2 * np.pi), np.sin(np.arange(10) * 0.2 * np.pi)], axis=1) * 100
    modes = np.arange(2000) % 10
    real = torch.from_numpy(centres[modes] + rng.normal(size=(2000, 2)))
    half = modes[modes < 5]
    fake = torch.from_numpy(centres[half] + rng.normal(size=(1000, 2)))
    precision, recall = precision_recall(real, fake)
    assert precision > 0.95
    assert recall == pytest.approx(0.5, abs=0.03)


def test_features_come_from_the_network_in_eval_mode_and_feed_every_metric(monkeypatch):
    torch.manual_seed(0)
    net = featurenet.FeatureNet(1, 10, width=4, feature_dim=8)
    with torch.no_grad():  # non-trivial running statistics, so train and eval mode differ
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
    net.train()
    images = np.random.default_rng(0).random((40, 1, 8, 8), dtype=np.float32)
    extracted = features.extract(net, images, torch.device("cpu"))
    assert not net.training
    with torch.no_grad():
        expected = net.features(torch.from_numpy(images)).double()
        in_train_mode = net.train().features(torch.from_numpy(images)).double()
    torch.testing.assert_close(extracted, expected)
    assert not torch.allclose(extracted, in_train_mode)

    seen = []
    monkeypatch.setattr(fidelity, "fid", lambda r, f: seen.append(("fid", r, f)) or 0.0)
    monkeypatch.setattr(fidelity, "kid", lambda r, f, *a: seen.append(("kid", r, f)) or (0.0, 0.0, 1))
    monkeypatch.setattr(
        fidelity,
        "manifold_measures",
        lambda r, f, k: (
            seen.append(("manifold", r, f))
            or fidelity.ManifoldMeasures(np.ones(len(f)), np.ones(len(r)), np.ones(len(f)), np.ones(len(r)))
        ),
    )
    monkeypatch.setattr(
        intervals,
        "bootstrap_two_sets",
        lambda statistic, r, f, *a: seen.append((statistic.__name__, r, f)) or [0.0, 0.0],
    )
    monkeypatch.setattr(comparison, "kid_interval", lambda r, f, *a: seen.append(("kid_interval", r, f)) or [0.0, 0.0])
    real, fake = extracted[:20], extracted[20:]
    comparison.compare(whole_schema()(), real, fake, seed=0)
    assert sorted(name for name, *_ in seen) == ["fid", "fid_numpy", "kid", "kid_interval", "manifold"]
    assert all(torch.equal(torch.as_tensor(r), real) and torch.equal(torch.as_tensor(f), fake) for _, r, f in seen)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    a, b = gaussian(400, np.zeros(8), np.eye(8), seed=6), gaussian(400, np.zeros(8), np.eye(8), seed=7)
    same, _, subset = fidelity.kid(a, b, subsets=20, seed=0)
    shifted, _, _ = fidelity.kid(a, b + 1.0, subsets=20, seed=0)
    assert subset == 200 and abs(same) < 0.01 < shifted
    assert fidelity.kid(a, b, subsets=20, seed=0)[0] == same, "seeded subsets"


def precision_recall(real: torch.Tensor, fake: torch.Tensor) -> tuple[float, float]:
    measures = fidelity.manifold_measures(real, fake, k=3)
    return float(measures.precision.mean()), float(measures.recall.mean())


def test_manifold_measures_stay_in_blocks_and_match_the_whole_distance_matrix(monkeypatch):
    """At 2,500 points per set no distance matrix is larger than 1024 rows (the whole one would be
    2,500 x 2,500; 10,000 x 10,000 in float64 is 0.8 GB), and the answer is the whole matrix's."""
    real, fake = gaussian(2500, np.zeros(4), np.eye(4), seed=8), gaussian(2500, np.full(4, 0.5), np.eye(4), seed=9)
    shapes, cdist = [], torch.cdist
    monkeypatch.setattr(torch, "cdist", lambda a, b: shapes.append((len(a), len(b))) or cdist(a, b))
    measures = fidelity.manifold_measures(real, fake, k=3)
    monkeypatch.undo()
    assert shapes and max(rows for rows, _ in shapes) == 1024

    def radii(manifold: torch.Tensor) -> torch.Tensor:
        return torch.cdist(manifold.double(), manifold.double()).kthvalue(4, dim=1).values

    def in_balls(points: torch.Tensor, manifold: torch.Tensor) -> torch.Tensor:
        return torch.cdist(points.double(), manifold.double()) <= radii(manifold)

    np.testing.assert_array_equal(measures.precision, in_balls(fake, real).any(dim=1).numpy())
    np.testing.assert_array_equal(measures.recall, in_balls(real, fake).any(dim=1).numpy())
    np.testing.assert_array_equal(measures.density, in_balls(fake, real).sum(dim=1).numpy() / 3)
    np.testing.assert_array_equal(measures.coverage, in_balls(fake, real).any(dim=0).numpy())
    assert 0.3 < measures.precision.mean() < 0.95 and 0.3 < measures.recall.mean() < 0.95


def digits_arrays():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
    return x_train, x_test, y_train.astype(np.int64), y_test.astype(np.int64)


@pytest.mark.parametrize("model", pipeline.CAS_MODELS)
def test_cas_on_the_real_training_data_equals_the_train_on_real_accuracy(tmp_path, model):
    from genbench.evaluate import classic as evaluate_classic
    from genbench.train import classic as train_classic

    x_train, x_test, y_train, y_test = digits_arrays()
    data, meta = tmp_path / "data.npz", tmp_path / "meta.json"
    empty = np.zeros((0, 1, 8, 8), np.float32)
    artifacts.save_npz(
        data,
        {
            "x_train": x_train,
            "y_train": y_train,
            "x_val": empty,
            "y_val": np.zeros(0, np.int64),
            "x_test": x_test,
            "y_test": y_test,
        },
    )
    source = {"title": "digits", "license": "", "citation": "", "homepage": ""}
    artifacts.write_json(
        meta, {"classes": [str(c) for c in range(10)], "image_shape": [1, 8, 8], "pixel_max": 16, "source": source}
    )
    params = whole_schema()(classic={"xgboost": {"n_estimators": 30, "n_jobs": 1}})
    settings = tmp_path / "settings.json"  # as the tune stage writes it without a budget or a refit
    artifacts.write_json(
        settings, {"model": model, "settings": base.settings(params, model).model_dump(), "fit_on": ["train"]}
    )
    train_classic.run(model, 0, data, meta, settings, tmp_path / "model")
    evaluate_classic.run(
        params,
        "digits",
        model,
        0,
        data,
        meta,
        tmp_path / "model",
        tmp_path / "metrics.json",
        tmp_path / "predictions.csv",
        tmp_path / "figures.npz",
    )
    train_on_real = artifacts.read_json(tmp_path / "metrics.json")["accuracy"]

    scored = cas.score(params, model, x_train, y_train, x_test, y_test, seed=0)
    assert scored["accuracy"] == train_on_real
    assert scored["accuracy"] > 0.9


def train_small(model: str, params, x_train: np.ndarray, y_train: np.ndarray, scratch) -> tuple[dict, dict]:
    """A small model trained on 8x8 digits by the pipeline's own loop; (modules, config)."""
    settings = getattr(params.generative, model)
    module = {"vae": vae, "ddpm": ddpm}[model]
    cfg = module.config(settings, (1, 8, 8), 10)
    torch.manual_seed(0)
    modules = module.build(cfg)
    execution = loop.execution_on(torch.device("cpu"))
    recipe = module.recipe(modules, settings, execution)
    run = loop.LoopSettings(settings.steps, settings.batch_size, checkpoint_every=10_000, log_every=50, seed=0)
    loop.run(
        f"{model} for a test",
        recipe,
        torch.from_numpy(x_train),
        torch.from_numpy(y_train),
        run,
        scratch,
        "test",
        execution,
    )
    return modules, cfg


@pytest.fixture(scope="module")
def trained_vae(tmp_path_factory):
    x_train, x_test, y_train, _ = digits_arrays()
    params = whole_schema()(
        generative={"vae": {"steps": 400, "batch_size": 64, "hidden": 16, "latent_dim": 8, "lr": 0.003}}
    )
    modules, cfg = train_small("vae", params, x_train, y_train, tmp_path_factory.mktemp("vae"))
    return modules, cfg, vae.binarised(torch.from_numpy(x_test[:150]), torch.Generator().manual_seed(0))


def test_iwae_bound_is_above_the_elbo_and_tightens_with_k(trained_vae):
    modules, cfg, x = trained_vae
    with torch.no_grad():
        draws = [
            vae.VAE.elbo_terms(
                modules["vae"].eval(),
                x,
                torch.randn(len(x), cfg["latent_dim"], generator=torch.Generator().manual_seed(s)),
            )
            for s in range(20)
        ]
        elbo = float(torch.stack([log_px - kl for log_px, kl in draws]).mean())
    bounds = [
        float(vae.iwae_bound(modules, x, k, torch.Generator().manual_seed(1), decodes_per_call=20_000).mean())
        for k in (1, 10, 100, 1000)
    ]
    assert bounds[0] == pytest.approx(elbo, abs=0.5), "k=1 is the ELBO"
    assert elbo < bounds[1] <= bounds[2] <= bounds[3]


def test_the_vae_is_scored_on_dynamically_binarised_test_images(trained_vae):
    """Burda et al.'s protocol: each grey level is the probability of a 1, drawn by the seed; the bound is the
    importance-weighted one on those binary images."""
    modules, cfg, _ = trained_vae
    grey = torch.from_numpy(digits_arrays()[1][:40])
    draws = torch.stack([vae.binarised(grey, torch.Generator().manual_seed(s)) for s in range(400)])
    assert set(draws.unique().tolist()) == {0.0, 1.0}
    # Five standard deviations at p = 0.5 (0.025 over 400 draws): the largest of 2,560 pixels stays inside.
    torch.testing.assert_close(draws.mean(0), grey, atol=0.125, rtol=0)
    evaluate = whole_schema()(evaluate={"iwae_samples": 50}).evaluate
    scored = vae.likelihood(modules, cfg, grey, None, torch.Generator().manual_seed(7), 16, evaluate)
    generator = torch.Generator().manual_seed(7)
    by_hand = -vae.iwae_bound(modules, vae.binarised(grey, generator), 50, generator, decodes_per_call=20_000)
    torch.testing.assert_close(scored["nats"], by_hand)
    assert "dynamically binarised" in scored["note"] and "k=50" in scored["note"]


@pytest.mark.parametrize("pixel_max", [16, 255])
def test_discretised_decoder_is_a_distribution_over_the_pixel_levels(pixel_max):
    levels = torch.linspace(-1, 1, pixel_max + 1, dtype=torch.float64)
    for mean, log_scale in [(0.0, -3.0), (0.9, -1.0), (-1.2, 0.5)]:
        log_p = ddpm.discretised_gaussian_log_likelihood(
            levels, torch.full_like(levels, mean), torch.tensor(log_scale, dtype=torch.float64), pixel_max
        )
        assert float(log_p.exp().sum()) == pytest.approx(1.0, abs=1e-9)


class NoiseOracle(torch.nn.Module):
    """A stand-in network that predicts the true noise of x_t from the known x_0."""

    def __init__(self, x0: torch.Tensor, alpha_bar: torch.Tensor):
        super().__init__()
        self.x0, self.alpha_bar = x0, alpha_bar

    def forward(self, xt, t, labels):
        ab = self.alpha_bar[t].view(-1, 1, 1, 1)
        return ((xt.double() - ab.sqrt() * self.x0) / (1 - ab).sqrt()).float()


def test_ddpm_bound_with_a_perfect_network_is_the_prior_kl_plus_the_decoder_term():
    """Every reverse-step KL vanishes when the network knows the noise, so the bound must equal
    the prior KL at T plus the decoder's NLL at t=0 (whose mean is then x_0 itself)."""
    pixel_max, cfg = 16, {"schedule": "cosine", "timesteps": 50}
    images = (
        torch.randint(0, pixel_max + 1, (6, 1, 4, 4), generator=torch.Generator().manual_seed(0)).float() / pixel_max
    )
    x0 = (2 * images - 1).double()
    betas = diffusion.make_betas(cfg["schedule"], cfg["timesteps"])
    alpha_bar = torch.cumprod(1 - betas, 0)
    oracle = NoiseOracle(x0, alpha_bar)
    modules = {"ema": torch.optim.swa_utils.AveragedModel(oracle)}
    nats = ddpm.variational_bound(
        modules, cfg, images, torch.zeros(6, dtype=torch.long), torch.Generator().manual_seed(0), pixel_max
    )

    ab_T = alpha_bar[-1]
    prior = (0.5 * (ab_T * x0**2 + (1 - ab_T) - 1 - torch.log(1 - ab_T))).flatten(1).sum(1)
    decoder_variance = betas[1] * (1 - alpha_bar[0]) / (1 - alpha_bar[1])  # beta-tilde at t=1
    log_p0 = ddpm.discretised_gaussian_log_likelihood(x0, x0, 0.5 * torch.log(decoder_variance), pixel_max)
    torch.testing.assert_close(nats, prior - log_p0.flatten(1).sum(1), rtol=1e-6, atol=1e-6)


class OffsetOracle(NoiseOracle):
    """The true noise plus an error that grows with t: every reverse-step KL is positive and differs by t."""

    def forward(self, xt, t, labels):
        return super().forward(xt, t, labels) + 0.3 * (t.float() / len(self.alpha_bar)).view(-1, 1, 1, 1)


def test_stratified_ddpm_bound_is_an_unbiased_estimate_of_the_whole_one():
    """One timestep per stratum, weighted by the stratum's size, averages to the bound over every timestep;
    strata of one timestep each are that bound exactly."""
    timesteps, pixel_max, n = 60, 16, 400
    cfg = {"schedule": "cosine", "timesteps": timesteps}
    images = (
        torch.randint(0, pixel_max + 1, (1, 1, 4, 4), generator=torch.Generator().manual_seed(0)).float() / pixel_max
    ).repeat(n, 1, 1, 1)
    alpha_bar = torch.cumprod(1 - diffusion.make_betas(cfg["schedule"], timesteps), 0)
    modules = {"ema": torch.optim.swa_utils.AveragedModel(OffsetOracle((2 * images - 1).double(), alpha_bar))}
    labels = torch.zeros(n, dtype=torch.long)

    def bound(strata):
        return ddpm.variational_bound(modules, cfg, images, labels, torch.Generator().manual_seed(1), pixel_max, strata)

    whole, stratified = bound(None), bound(8)
    torch.testing.assert_close(bound(timesteps - 1), whole)
    assert stratified.std() > 10 * whole.std(), "else the strata's weights are not tested"
    assert abs(stratified.mean() - whole.mean()) < 4 * stratified.std() / n**0.5
    edges = ddpm.stratum_edges(1000, 100)
    assert len(edges) == 101 and edges[0] == 1 and edges[-1] == 1000 and all(a < b for a, b in zip(edges, edges[1:]))


def test_ddpm_bound_is_lower_after_training(tmp_path):
    x_train, _, y_train, _ = digits_arrays()
    params = whole_schema()(
        generative={"ddpm": {"steps": 150, "batch_size": 32, "base_channels": 8, "timesteps": 40, "lr": 0.005}}
    )
    untrained_params = whole_schema()(generative={"ddpm": params.generative.ddpm.model_dump() | {"steps": 1}})
    x, y = torch.from_numpy(x_train[:64]), torch.from_numpy(y_train[:64])

    def bits_per_dim(modules, cfg) -> float:
        modules["ema"].module.load_state_dict(
            modules["unet"].state_dict()
        )  # judge the weights themselves, not their EMA
        nats = ddpm.variational_bound(modules, cfg, x, y, torch.Generator().manual_seed(0), pixel_max=16)
        return float(nats.mean()) / (64 * math.log(2))

    untrained = bits_per_dim(*train_small("ddpm", untrained_params, x_train, y_train, tmp_path / "untrained"))
    trained = bits_per_dim(*train_small("ddpm", params, x_train, y_train, tmp_path / "trained"))
    assert math.isfinite(untrained) and math.isfinite(trained)
    assert 0 < trained < untrained
