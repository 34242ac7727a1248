# The pipeline's DAG for Snakemake, locally or on a cluster (profiles/). It runs the
# same `genbench` commands on the same inputs and outputs as dvc.yaml, which
# tests/test_dag.py proves. Every setting a rule uses is in its params:, normalised,
# and every source file it runs is an input:, so reruns and the between-workflow
# cache follow content, not only file times.

report: "rules/captions/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/classic.smk"
include: "rules/deep.smk"
include: "rules/report.smk"


rule all:
    input:
        "reports/index.html",
