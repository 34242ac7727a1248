rule report:
    input:
        code=CORE_CODE
        + [
            "src/genbench/report/build.py",
            "src/genbench/report/figures.py",
            "src/genbench/report/provenance.py",
            "src/genbench/report/templates/index.html.j2",
        ],
        processed=expand(
            "data/processed/{dataset}/{file}", dataset=DATASETS, file=["data.npz", "meta.json"]
        ),
        samples=expand("data/samples/{dataset}/{model}", dataset=DATASETS, model=GENERATIVE_MODELS),
        metrics=expand(
            "reports/metrics/{dataset}/{model}.json",
            dataset=DATASETS,
            model=CLASSIC_MODELS + ["featurenet"] + GENERATIVE_MODELS + ["references"],
        ),
    output:
        "reports/index.html",
    params:
        settings=canonical_json(PARAMS),
    shell:
        "genbench report"
