"""tune@D-M for the deep models: settings chosen on the validation split with the budget every model gets.

Each trial trains the model from scratch by the shared loop (one process, seed tune.seed) on the
training split and scores it on the validation split; the test split is never read. The objective
follows the model's kind:

- the featurenet (a classifier): validation accuracy, as the classic models;
- a generative model: FID in the feature space every comparison uses (the featurenet of
  evaluate.feature_seed), between images drawn for the validation images' classes (the class-matched
  protocol of the final tables) and those validation images. FID alone is the objective: it answers
  for fidelity and diversity at once, and one objective keeps the pruner usable (Optuna's pruners
  take one). A conditional model's CAS on the validation split (the first of CAS's classifiers,
  the SVM, fitted on its samples) is recorded beside it for the page.

tune.checks times during a trial the loop hands the model to the same judge, and Optuna's median
pruner stops a trial whose score falls behind the finished trials' at that point. Every trial and
every check draw the same noise, so trials differ by their settings alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genbench import artifacts, device, paths, pipeline, randomness, records
from genbench.config import Params
from genbench.data import splits
from genbench.errors import ConfigError
from genbench.evaluate import cas, features, fidelity, protocol
from genbench.models import base, deep
from genbench.train import deep as training
from genbench.train import loop
from genbench.tune import choice, space, study

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
    module = base.module_of(model)
    key = base.training_section(model, module.KIND)
    given = base.settings(params, model, module)
    objective_name, direction = OBJECTIVES[module.KIND]
    searched = params.tune.space.get(model, {})
    budget = params.tune.trials if searched else 0
    trials, given_value = [], None
    if budget:
        on = device.prepare(params.train.device, params.train.threads)
        classes = records.read(meta_path, records.DatasetMeta).classes
        arrays = splits.load(data_path, ("train", "val"), n_classes=len(classes))
        if len(arrays["y_val"]) < 2:
            raise ConfigError(f"params.yaml: tune.trials: {dataset} has no validation split; set data.val_fraction")
        judge = _Judge(params, module, model, arrays, feature_dir, on)
        trainer = _Trainer(params, module, f"tune {model} on {dataset}", arrays, len(classes), judge, scratch, on)
        search = {
            "space": {name: d.model_dump() for name, d in searched.items()},
            "given": given.model_dump(),
            "data": artifacts.sha256_of(data_path),
            "features": artifacts.sha256_of(feature_dir / paths.WEIGHTS) if feature_dir else None,
            "objective": objective_name,
            "checks": params.tune.checks,
            "prune_after": params.tune.prune_after,
            "evaluate": judge.protocol,
            "seed": params.tune.seed,
            "runtime": [on.type, params.train.threads, params.train.precision],
        }
        name = study.study_name(model, search)
        from optuna.pruners import MedianPruner

        trials = study.optimise(
            journal,
            name,
            direction,
            space.distributions(module.Params, searched),
            budget,
            params.tune.seed,
            lambda trial: trainer.score(base.validated(module.Params, given.model_dump() | trial.params, key), trial),
            MedianPruner(n_startup_trials=params.tune.prune_after, n_warmup_steps=0),
        )
        given_value = study.remembered(journal, name, direction, "given_value", lambda: trainer.score(given))
    choice.write(
        settings_path,
        summary_path,
        model,
        objective_name,
        direction,
        given,
        searched,
        budget,
        given_value,
        trials,
        ["train"],  # the validation images are the generative models' floor: no deep model trains on them
    )
    return {"trial_seconds": sum(t.user_attrs["seconds"] for t in trials)} if budget else {}


class _Trainer:
    """Trains the model afresh with given settings by the shared loop, and scores it with the judge."""

    def __init__(self, params, module, name: str, arrays: dict, n_classes: int, judge, scratch: Path, on):
        self.params, self.module, self.name, self.n_classes = params, module, name, n_classes
        self.judge, self.scratch = judge, scratch
        self.images = torch.from_numpy(arrays["x_train"]).to(on).contiguous(memory_format=device.memory_format(on))
        self.labels = torch.from_numpy(arrays["y_train"]).to(on)
        self.execution = loop.execution_on(on, params.train.precision)

    def score(self, settings, trial=None) -> float:
        """The objective of `settings`; a trial's checks on the way may prune it (optuna.TrialPruned)."""
        import optuna

        tune = self.params.tune
        cfg = self.module.config(settings, tuple(self.images.shape[1:]), self.n_classes)
        every = max(1, settings.steps // (tune.checks + 1)) if trial and tune.checks else 0
        schedule = loop.LoopSettings(
            settings.steps, settings.batch_size, settings.steps, self.params.train.log_every, tune.seed, every
        )

        def check(step: int, modules: dict) -> None:
            trial.report(self.judge.score(modules, cfg, measures=False)[0], step // every)  # the check's number
            if trial.should_prune():
                raise optuna.TrialPruned

        loop.clear_scratch(self.scratch)  # a trial starts afresh: one drawn again scores as it first would have
        name = f"{self.name}, " + (f"trial {trial.number}" if trial else "as given")
        recipe, _ = training.fit(
            self.module,
            settings,
            cfg,
            self.images,
            self.labels,
            schedule,
            self.execution,
            self.scratch,
            "tune",
            name,
            check,
        )
        loop.clear_scratch(self.scratch)
        value, measures = self.judge.score(recipe.modules, cfg, measures=True)
        if trial:
            trial.set_user_attr("measures", measures)
        return value


class _Judge:
    """Scores a model in training on the validation split: (the objective, other measures)."""

    def __init__(self, params: Params, module, model: str, arrays: dict, feature_dir: Path | None, on: torch.device):
        self.module, self.on = module, on
        self.x_val, self.y_val = arrays["x_val"], arrays["y_val"]
        self.generative = module.KIND is base.Kind.GENERATIVE
        self.protocol = {}
        if not self.generative:
            return
        self.params = params
        self.sampling = base.sampling(params, model, module)
        self.conditional = base.settings(params, model, module).is_conditional()
        n = min(params.evaluate.n_samples, len(self.y_val))
        self.real, self.real_labels = protocol.floor_subset(params, arrays, n)
        self.feature_net = deep.load(pipeline.FEATURE_SPACE, feature_dir, on)[0]["net"]
        self.real_features = features.extract(self.feature_net, self.real, on).numpy()
        self.labels = torch.from_numpy(self.real_labels if self.conditional else np.zeros(n, dtype=np.int64))
        self.protocol = {"n_samples": n, "sampling": self.sampling.model_dump(), "data_seed": params.data.seed}

    def score(self, modules: dict, cfg: dict, measures: bool) -> tuple[float, dict]:
        """The objective, and with `measures` the others; the modules go back to the mode training left them in."""
        modes = {name: m.training for name, m in modules.items()}
        try:
            return self._score(modules, cfg, measures)
        finally:
            for name, m in modules.items():
                m.train(modes[name])

    def _score(self, modules: dict, cfg: dict, measures: bool) -> tuple[float, dict]:
        if not self.generative:
            accuracy = float(np.mean(features.classify(modules["net"], self.x_val, self.on) == self.y_val))
            return accuracy, {}
        generator = randomness.torch_generator(self.params.tune.seed, "tune/samples")
        chunk = device.images_per_call(self.on, *self.real.shape[-2:])
        drawn = [
            self.module.sample(modules, cfg, self.labels[i : i + chunk], generator, self.sampling).float().cpu()
            for i in range(0, len(self.labels), chunk)
        ]
        images = torch.cat(drawn).clamp(0, 1).numpy().astype(np.float32)
        value = fidelity.fid_numpy(self.real_features, features.extract(self.feature_net, images, self.on).numpy())
        if not (measures and self.conditional):
            return value, {}
        judge = pipeline.CAS_MODELS[0]
        found = cas.score(self.params, judge, images, self.real_labels, self.x_val, self.y_val, self.params.tune.seed)
        return value, {f"cas_{judge}": found["accuracy"]}
