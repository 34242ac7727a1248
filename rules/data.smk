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
    # Not cached between workflows: files may be placed in data/raw/ by hand, and a cached output
    # is a link into the shared cache, which such a file would then change for everyone.
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
        software=SOFTWARE,
        dataset="{dataset}",
        seed=setting("seed"),
        data=setting("data"),
    cache: True
    resources:
        **LIGHT,
    shell:
        "genbench preprocess --dataset {params.dataset}"
