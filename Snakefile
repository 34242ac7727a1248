# The pipeline's DAG for Snakemake, locally or on a cluster (profiles/). One rule per stage group
# of the spec in src/genbench/pipeline.py, which also writes dvc.yaml; tests/test_dag.py proves the
# two graphs equal. Every rule but download and report is `cache: True`: `snakemake --cache` with
# SNAKEMAKE_OUTPUT_CACHE set stores their outputs and restores them in any clone that asks for the
# same job.

import sys

from genbench.errors import ConfigError
from genbench.snakemake_rules import Rules

try:
    RULES = Rules("params.yaml")
except ConfigError as error:
    print(f"genbench: error: {error}", file=sys.stderr)
    sys.exit(2)

report: "src/genbench/report/captions/workflow.rst"


wildcard_constraints:
    dataset=RULES.dataset_pattern,


def define(group):
    # A function, not the loop's body: Snakemake runs a rule's shell: block when the job runs,
    # so each rule needs its own `group`, not the loop variable's last value.
    rule:
        name:
            group.name
        input:
            **RULES.inputs(group),
        output:
            **RULES.outputs(group, directory, report, update),
        params:
            **RULES.settings(group),
        cache: group.cache
        threads: RULES.threads(group)
        resources:
            **RULES.resources(group),
        wildcard_constraints:
            **RULES.constraints(group),
        shell:
            RULES.shell(group)


for group in RULES.groups:
    define(group)


rule all:
    default_target: True
    input:
        "reports/index.html",


onstart:
    # Snakemake consults the between-workflow cache in its local executor only; inside a cluster
    # job it sees that job alone, cannot hash the jobs upstream and fails on folder inputs.
    if workflow.workflow_settings.cache is not None and not workflow.local_exec:
        print("genbench: error: --cache works with the local executor only (profiles/local); run it inside one cluster allocation instead", file=sys.stderr)
        sys.exit(2)
