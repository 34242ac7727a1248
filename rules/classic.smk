rule train:
    wildcard_constraints:
        model=one_of(CLASSIC_MODELS),
    input:
        code=lambda w: CORE_CODE + classic_code(w.model),
        data="data/processed/{dataset}/data.npz",
        meta="data/processed/{dataset}/meta.json",
    output:
        directory("data/models/{dataset}/{model}"),
    params:
        software=SOFTWARE,
        dataset="{dataset}",
        model="{model}",
        seed=setting("seed"),
        settings=lambda w: setting(f"classic.{w.model}"),
    cache: True
    resources:
        **LIGHT,
    shell:
        "genbench train --dataset {params.dataset} --model {params.model}"


rule evaluate:
    wildcard_constraints:
        model=one_of(CLASSIC_MODELS),
    input:
        code=lambda w: CORE_CODE
        + classic_code(w.model)
        + ["src/genbench/evaluate/classifier.py", "src/genbench/evaluate/classic.py"],
        data="data/processed/{dataset}/data.npz",
        meta="data/processed/{dataset}/meta.json",
        model="data/models/{dataset}/{model}",
    output:
        metrics="reports/metrics/{dataset}/{model}.json",
        predictions="reports/predictions/{dataset}/{model}.csv",
    params:
        software=SOFTWARE,
        dataset="{dataset}",
        model="{model}",
    cache: True
    resources:
        **LIGHT,
    shell:
        "genbench evaluate --dataset {params.dataset} --model {params.model}"
