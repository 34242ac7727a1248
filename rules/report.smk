rule report:
    input:
        code=CORE_CODE
        + [
            "src/genbench/data/splits.py", "src/genbench/records.py",
            "src/genbench/models/classic/xgboost.py",
            "src/genbench/runlog.py",
            "src/genbench/report/build.py",
            "src/genbench/report/changes.py",
            "src/genbench/report/dataset_figures.py",
            "src/genbench/report/figures.py",
            "src/genbench/report/provenance.py",
            "src/genbench/report/templates/index.html.j2",
        ],
        processed=expand(
            "data/processed/{dataset}/{file}", dataset=DATASETS, file=["data.npz", "meta.json"]
        ),
        models=expand(
            "data/models/{dataset}/{model}",
            dataset=DATASETS,
            model=CLASSIC_MODELS + ["featurenet"] + GENERATIVE_MODELS,
        ),
        samples=expand("data/samples/{dataset}/{model}", dataset=DATASETS, model=GENERATIVE_MODELS),
        metrics=expand(
            "reports/metrics/{dataset}/{model}.json",
            dataset=DATASETS,
            model=CLASSIC_MODELS + ["featurenet"] + GENERATIVE_MODELS + ["references"],
        ),
        projections=expand("reports/projections/{dataset}/{model}.npz", dataset=DATASETS, model=GENERATIVE_MODELS),
        training=expand(
            "reports/training/{dataset}/{model}/{log}",
            dataset=DATASETS,
            model=["featurenet"] + GENERATIVE_MODELS,
            log=["metrics.json", "plots/metrics"],
        ),
    output:
        report("reports/index.html", caption="captions/index.rst", category="Report"),
        report(
            directory("reports/figures"),
            patterns=["{dataset}/{figure}.png"],
            caption="captions/figure.rst",
            category="Figures",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "{figure}"},
        ),
    params:
        settings=canonical_json(PARAMS),
    # Not cached between workflows: the page records the git commit and the stages' run times,
    # which are not among its inputs.
    resources:
        **LIGHT,
    shell:
        "genbench report"
