"""Baseline policies for the decision-quality benchmark (benchmarks/decision_quality.py).

Each baseline is its own module, written from what its paper or documentation says (each rule's
docstring cites its source), and runs on :mod:`ccc.simulate.baselines.fleet`: the same
availability traces, boot time, prices and strict preemption as ``ccc simulate``, over a
one-minute tick. ccc itself is never run here: it runs through its own controller loop
(:func:`ccc.simulate.run.simulate`). docs/design/023-simulate.md says what this fidelity costs.
"""
