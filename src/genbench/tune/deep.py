"""tune@D-M for the deep models: settings chosen on the validation split with the budget every model gets.

Each trial trains the model from scratch by the shared loop (one process, seed tune.seed) on the
training split and scores it on the validation split; the test split is never read. The objective
follows the model's kind:

- the featurenet (a classifier): validation accuracy, as the classic models;
- a generative model: FID in the feature space every comparison uses (the featurenet of
  evaluate.feature_seed), between tune.images images drawn with the model's default sampler (for
  the validation images' classes where it is conditional, the class-matched protocol of the final
  tables) and as many validation images, chosen by tune.seed. FID alone is the objective: it
  answers for fidelity and diversity at once, and one objective keeps the pruner usable (Optuna's
  pruners take one). CAS stays in the final tables: in the judge it would tie every generative
  model's tuning, and so its training, to the SVM's settings and code.

tune.checks times during a trial the loop hands the model to the same judge, and Optuna's median
pruner stops a trial whose score falls behind the finished trials' at that point. Every trial and
every check draw the same noise, so trials differ by their settings alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genbench import artifacts, device, paths, pipeline, randomness
from genbench.config import Params
from genbench.data import splits
from genbench.evaluate import distances, features, protocol
from genbench.models import base, deep
from genbench.train import deep as training
from genbench.train import loop
from genbench.tune import choice, search, space, study

OBJECTIVES = {
    base.Kind.CLASSIFIER: ("validation accuracy", "maximize"),
    base.Kind.GENERATIVE: ("validation FID", "minimize"),
}


def stage(params: Params, io) -> dict:
    feature_dir = io.input("feature_weights").parent if io.group.kind == "generative" else None
    return run(
        params,
        io.dataset,
        io.model,
        io.input("data"),
        io.input("meta"),
        feature_dir,
        io.output("settings"),
        io.output("summary"),
        paths.study_file(io.dataset, io.model),
        paths.tune_scratch(io.dataset, io.model),
    )


def run(
    params: Params,
    dataset: str,
    model: str,
    data_path: Path,
    meta_path: Path,
    feature_dir: Path | None,
    settings_path: Path,
    summary_path: Path,
    journal: Path,
    scratch: Path,
) -> dict:
    """Write the settings training reads and the study's record; returns the trials' time, which stays out of both."""
    tuned = search.of(params, model)
    objective, direction = OBJECTIVES[tuned.module.KIND]
    trials, given_value = [], None
    if tuned.budget:
        on = device.prepare(params.train.device, params.train.threads)
        arrays, meta = search.training_and_validation(dataset, data_path, meta_path)
        judge = _Judge(params, tuned, arrays, meta.pixel_max, feature_dir, on)
        captions = splits.captions(data_path, "train")
        trainer = _Trainer(
            params,
            tuned.module,
            f"tune {model} on {dataset}",
            arrays,
            captions,
            meta.classes,
            dataset,
            judge,
            scratch,
            on,
        )
        name = study.study_name(
            model,
            tuned.identity(params, data_path, objective)
            | {
                "features": artifacts.sha256_of(feature_dir / paths.WEIGHTS) if feature_dir else None,
                "checks": params.tune.checks,
                "prune_after": params.tune.prune_after,
                "images": params.tune.images,
                "runtime": [on.type, params.train.threads, params.train.precision],
            },
        )
        from optuna.pruners import MedianPruner

        trials = study.optimise(
            journal,
            name,
            direction,
            space.distributions(tuned.module.Params, tuned.space),
            tuned.budget,
            params.tune.seed,
            lambda trial: trainer.score(tuned.trial_settings(trial), trial),
            MedianPruner(n_startup_trials=params.tune.prune_after, n_warmup_steps=0),
        )
        given_value = study.remembered(journal, name, direction, "given_value", lambda: trainer.score(tuned.given))
    # The validation images are the generative models' floor: no deep model trains on them.
    choice.write(settings_path, summary_path, tuned, objective, direction, given_value, trials, ["train"])
    return {"trial_seconds": sum(t.user_attrs["seconds"] for t in trials)}


class _Trainer:
    """Trains the model afresh with given settings by the shared loop, and scores it with the judge."""

    def __init__(
        self,
        params,
        module,
        name: str,
        arrays: dict,
        captions: list[str] | None,
        classes: list[str],
        dataset: str,
        judge,
        scratch,
        on,
    ):
        self.params, self.module, self.name, self.classes, self.dataset = params, module, name, classes, dataset
        self.captions = captions
        # Its own folder: several workers may run the study's trials at once.
        worker = study.this_worker()
        self.judge, self.scratch = judge, scratch / f"{worker['host']}-{worker['pid']}"
        self.images = torch.from_numpy(arrays["x_train"]).to(on).contiguous(memory_format=device.memory_format(on))
        self.labels = torch.from_numpy(arrays["y_train"]).to(on)
        self.execution = loop.execution_on(on, params.train.precision)

    def score(self, settings, trial=None) -> float:
        """The objective of `settings`; a trial's checks on the way may prune it (optuna.TrialPruned)."""
        import optuna

        tune = self.params.tune
        cfg = base.config_for(
            self.module,
            settings,
            self.images,
            self.labels,
            self.classes,
            self.dataset,
            self.captions,
            self.judge.pixel_max,
        )
        labels = base.training_labels(self.module, cfg, self.labels, self.captions)
        every = max(1, settings.steps // (tune.checks + 1)) if trial and tune.checks else 0
        schedule = loop.LoopSettings(
            settings.steps, settings.batch_size, settings.steps, self.params.train.log_every, tune.seed, every
        )

        def check(step: int, modules: dict) -> None:
            trial.report(self.judge.score(modules, cfg), step // every)  # the check's number
            if trial.should_prune():
                raise optuna.TrialPruned

        loop.clear_scratch(self.scratch)  # a trial starts afresh: one drawn again scores as it first would have
        name = f"{self.name}, " + (f"trial {trial.number}" if trial else "as given")
        try:
            recipe, _ = training.fit(
                self.module,
                settings,
                cfg,
                self.images,
                labels,
                schedule,
                self.execution,
                self.scratch,
                "tune",
                name,
                check,
            )
        except loop.TrainingDiverged as e:
            if trial is None:
                raise  # the settings as given: the params are to change, not the search
            raise study.TrialFailed(str(e)) from None
        loop.clear_scratch(self.scratch)
        return self.judge.score(recipe.modules, cfg)


class _Judge:
    """Scores a model in training on the validation split: the featurenet by its accuracy on all of it, a
    generative model by the FID of tune.images of its images against as many validation images."""

    def __init__(
        self, params: Params, tuned: search.Search, arrays: dict, pixel_max: int, feature_dir: Path | None, on
    ):
        module = tuned.module
        self.module, self.on, self.seed, self.pixel_max = module, on, params.tune.seed, pixel_max
        self.x_val, self.y_val = arrays["x_val"], arrays["y_val"]
        self.generative = module.KIND is base.Kind.GENERATIVE
        if not self.generative:
            return
        # Its own choice of images and the model's default sampler, not evaluate.* and sampling.*: those never
        # retrain a model, and a tune they reached would (Snakemake reruns what follows a job that ran).
        self.sampling = module.Sampling()
        n = min(params.tune.images, len(self.y_val))
        chosen = protocol.subset(
            len(self.y_val), n, randomness.seed_of(self.seed, "tune/validation-images"), self.y_val
        )
        self.feature_net = deep.load(pipeline.FEATURE_SPACE, feature_dir, on)[0]["net"]
        self.real_features = features.extract(self.feature_net, self.x_val[chosen], on).numpy()
        # A conditional model draws for the chosen images' classes, as in the final tables.
        conditional = tuned.given.is_conditional()
        self.labels = torch.from_numpy(self.y_val[chosen] if conditional else np.zeros(n, dtype=np.int64))
        self.image_size = self.x_val.shape[-2:]

    def score(self, modules: dict, cfg: dict) -> float:
        """The objective; the modules go back to the mode training left them in."""
        modes = {name: m.training for name, m in modules.items()}
        try:
            return self._score(modules, cfg)
        finally:
            for name, m in modules.items():
                m.train(modes[name])

    def _score(self, modules: dict, cfg: dict) -> float:
        if not self.generative:
            return float(np.mean(features.classify(modules["net"], self.x_val, self.on) == self.y_val))
        generator = randomness.torch_generator(self.seed, "tune/samples")
        chunk = device.images_per_call(self.on, *self.image_size)
        drawn = [
            self.module.sample(modules, cfg, self.labels[i : i + chunk], generator, self.sampling).float().cpu()
            for i in range(0, len(self.labels), chunk)
        ]
        images = protocol.on_pixel_levels(torch.cat(drawn).numpy(), self.pixel_max)
        return distances.fid_numpy(self.real_features, features.extract(self.feature_net, images, self.on).numpy())
