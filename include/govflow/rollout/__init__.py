"""Seed 000 "Phased Rollout" and seed 001 section 5 "Rollback Procedures".

``stages``: the rollout's steps (plan, start a stage, watch it, decide its gate, record the
stakeholder decision, complete); ``checks``: the stage gates and rollback criteria decided
on a stage's own traffic; ``rollback``: decide, execute, verify and conclude a rollback.
"""
