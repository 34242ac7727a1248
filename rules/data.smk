rule download:
    input:
        code=CORE_CODE
        + [
            "src/genbench/data/idx.py",
            "src/genbench/data/download.py",
        ],
    output:
        directory("data/raw/{dataset}"),
    params:
        dataset="{dataset}",
        download=setting("download"),
    resources:
        **LIGHT,
    shell:
        "genbench download --dataset {params.dataset}"


rule preprocess:
    input:
        code=CORE_CODE
        + [
            "src/genbench/data/idx.py",
            "src/genbench/data/cifar.py",
            "src/genbench/data/preprocess.py",
        ],
        raw="data/raw/{dataset}",
    output:
        data="data/processed/{dataset}/data.npz",
        meta="data/processed/{dataset}/meta.json",
    params:
        dataset="{dataset}",
        seed=setting("seed"),
        data=setting("data"),
    resources:
        **LIGHT,
    shell:
        "genbench preprocess --dataset {params.dataset}"
