# The pipeline's DAG for Snakemake, locally or on a cluster (profiles/). It runs the
# same `genbench` commands on the same inputs and outputs as dvc.yaml, which
# tests/test_dag.py proves. Every setting a rule uses is in its params:, normalised,
# and every source file it runs is an input:, so reruns and the between-workflow
# cache follow content, not only file times. Every rule but download and report is
# `cache: True`: `snakemake --cache` with SNAKEMAKE_OUTPUT_CACHE set stores their
# outputs and restores them in any clone that asks for the same job.

report: "rules/captions/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/classic.smk"
include: "rules/deep.smk"
include: "rules/report.smk"


rule all:
    input:
        "reports/index.html",


onstart:
    # Snakemake consults the between-workflow cache in its local executor only; inside a cluster
    # job it sees that job alone, cannot hash the jobs upstream and fails on folder inputs.
    if workflow.workflow_settings.cache is not None and not workflow.local_exec:
        sys.exit("genbench: error: --cache works with the local executor only (profiles/local); run it inside one cluster allocation instead")
