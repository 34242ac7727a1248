rule train_featurenet:
    input:
        code=CORE_CODE + ["src/genbench/data/splits.py", "src/genbench/records.py", "src/genbench/train/deep.py"] + deep_code("featurenet"),
        data="data/processed/{dataset}/data.npz",
        meta="data/processed/{dataset}/meta.json",
    output:
        model=directory("data/models/{dataset}/featurenet"),
        summary="reports/training/{dataset}/featurenet/metrics.json",
        curves=directory("reports/training/{dataset}/featurenet/plots/metrics"),
    params:
        software=SOFTWARE,
        dataset="{dataset}",
        seed=setting("seed"),
        train=setting("train"),
        settings=setting("featurenet"),
    cache: True
    threads: PARAMS.train.threads
    resources:
        **DEEP,
    shell:
        "genbench train --dataset {params.dataset} --model featurenet"


rule evaluate_featurenet:
    input:
        code=CORE_CODE
        + ["src/genbench/data/splits.py", "src/genbench/records.py"]
        + deep_code("featurenet")
        + ["src/genbench/evaluate/classifier.py", "src/genbench/evaluate/features.py", "src/genbench/evaluate/featurenet.py"],
        data="data/processed/{dataset}/data.npz",
        meta="data/processed/{dataset}/meta.json",
        model="data/models/{dataset}/featurenet",
    output:
        metrics="reports/metrics/{dataset}/featurenet.json",
        predictions="reports/predictions/{dataset}/featurenet.csv",
    params:
        software=SOFTWARE,
        dataset="{dataset}",
        device=setting("train.device"),
        threads=setting("train.threads"),
    cache: True
    threads: PARAMS.train.threads
    resources:
        **DEEP,
    shell:
        "genbench evaluate --dataset {params.dataset} --model featurenet"


rule train_generative:
    wildcard_constraints:
        model=one_of(GENERATIVE_MODELS),
    input:
        code=lambda w: CORE_CODE + ["src/genbench/data/splits.py", "src/genbench/records.py", "src/genbench/train/deep.py"] + deep_code(w.model),
        data="data/processed/{dataset}/data.npz",
        meta="data/processed/{dataset}/meta.json",
    output:
        model=directory("data/models/{dataset}/{model}"),
        summary="reports/training/{dataset}/{model}/metrics.json",
        curves=directory("reports/training/{dataset}/{model}/plots/metrics"),
    params:
        software=SOFTWARE,
        dataset="{dataset}",
        model="{model}",
        seed=setting("seed"),
        train=setting("train"),
        settings=lambda w: setting(f"generative.{w.model}"),
    cache: True
    threads: PARAMS.train.threads
    resources:
        **DEEP,
    shell:
        "genbench train --dataset {params.dataset} --model {params.model}"


rule sample:
    wildcard_constraints:
        model=one_of(GENERATIVE_MODELS),
    input:
        code=lambda w: CORE_CODE + ["src/genbench/data/splits.py", "src/genbench/records.py"] + deep_code(w.model) + ["src/genbench/sample.py"],
        data="data/processed/{dataset}/data.npz",
        meta="data/processed/{dataset}/meta.json",
        model="data/models/{dataset}/{model}",
    output:
        directory("data/samples/{dataset}/{model}"),
    params:
        software=SOFTWARE,
        dataset="{dataset}",
        model="{model}",
        seed=setting("seed"),
        device=setting("train.device"),
        threads=setting("train.threads"),
        n_samples=setting("evaluate.n_samples"),
        settings=lambda w: setting(f"generative.{w.model}"),
    cache: True
    threads: PARAMS.train.threads
    resources:
        **DEEP,
    shell:
        "genbench sample --dataset {params.dataset} --model {params.model}"


def fidelity_code():
    return [
        "src/genbench/evaluate/features.py",
        "src/genbench/evaluate/fidelity.py",
        "src/genbench/evaluate/comparison.py",
    ]


rule evaluate_generative:
    wildcard_constraints:
        model=one_of(GENERATIVE_MODELS),
    input:
        code=lambda w: CORE_CODE
        + deep_code(w.model)
        + ["src/genbench/models/featurenet.py"]
        + fidelity_code()
        + classic_code("svm")
        + ["src/genbench/models/classic/xgboost.py", "src/genbench/evaluate/cas.py", "src/genbench/evaluate/generative.py"],
        data="data/processed/{dataset}/data.npz",
        meta="data/processed/{dataset}/meta.json",
        featurenet="data/models/{dataset}/featurenet",
        model="data/models/{dataset}/{model}",
        samples="data/samples/{dataset}/{model}",
    output:
        metrics="reports/metrics/{dataset}/{model}.json",
        projection="reports/projections/{dataset}/{model}.npz",
    params:
        software=SOFTWARE,
        dataset="{dataset}",
        model="{model}",
        seed=setting("seed"),
        device=setting("train.device"),
        threads=setting("train.threads"),
        evaluate=setting("evaluate"),
        svm=setting("classic.svm"),
        xgboost=setting("classic.xgboost"),
        settings=lambda w: setting(f"generative.{w.model}"),
    cache: True
    threads: PARAMS.train.threads
    resources:
        **DEEP,
    shell:
        "genbench evaluate --dataset {params.dataset} --model {params.model}"


rule evaluate_references:
    input:
        code=CORE_CODE
        + deep_code("featurenet")
        + fidelity_code()
        + classic_code("svm")
        + ["src/genbench/models/classic/xgboost.py", "src/genbench/evaluate/cas.py", "src/genbench/evaluate/references.py"],
        data="data/processed/{dataset}/data.npz",
        meta="data/processed/{dataset}/meta.json",
        featurenet="data/models/{dataset}/featurenet",
    output:
        "reports/metrics/{dataset}/references.json",
    params:
        software=SOFTWARE,
        dataset="{dataset}",
        seed=setting("seed"),
        device=setting("train.device"),
        threads=setting("train.threads"),
        n_samples=setting("evaluate.n_samples"),
        kid_subsets=setting("evaluate.kid_subsets"),
        nearest_neighbours=setting("evaluate.nearest_neighbours"),
        svm=setting("classic.svm"),
        xgboost=setting("classic.xgboost"),
    cache: True
    threads: PARAMS.train.threads
    resources:
        **DEEP,
    shell:
        "genbench references --dataset {params.dataset}"
