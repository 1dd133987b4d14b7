"""Seed 001 PROC-AI-DEPLOY-001 with seed 000's readiness checklist and report, seed 002's ML
checklist items and seed 003's registry: the deployment procedure as a library.

- ``workflow``: a deployment run step by step, one function per task of the DAG;
- ``procedure``: the deployment record and its twenty steps;
- ``checks``: the automated checks deployment.yaml names;
- ``checklists``: checklist items with their evidence, automatic or attested;
- ``approvals``: approvers by risk tier with separation of duties, FORM-AI-DEPLOY-002;
- ``readiness``: the Deployment Readiness Report;
- ``forms``: what each human step asks, of whom, by when.

Nothing is imported here, so that importing one of them (``forms`` to check an answer) does
not pay for the numeric stack the checks need.
"""
