"""``ccc simulate``: the inputs and outputs around the controller's loop in virtual time.

* :mod:`ccc.simulate.scenario`: scenario files (events at offsets from the start), read with
  positions by :mod:`ccc.simulate.located`.
* :mod:`ccc.simulate.result`: the stable ``-o json`` result model and its JSON schema.
* :mod:`ccc.simulate.recorder` and :mod:`ccc.simulate.metrics`: a run's recorded timeline and
  the summary computed from it (served fraction, time below target, cost, on-demand cost);
  :mod:`ccc.simulate.on_demand` finds the on-demand reference of a class.
* :mod:`ccc.simulate.bound`: the clairvoyant lower bound on cost.
* :mod:`ccc.simulate.table`, :mod:`ccc.simulate.report`, :mod:`ccc.simulate.progress`: the
  table summary, the self-contained HTML report (matplotlib, imported only there) and the
  progress bar.

Availability traces live with the simulated cloud (:mod:`providers.simulated.trace_sources`).
This package sits between ``ccc.cli`` and ``ccc.controller`` in the layering (.importlinter).
docs/simulate.md is the user guide; docs/design/013-simulate-inputs-and-outputs.md the decisions.
"""
