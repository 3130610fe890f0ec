"""One module per study, siblings over the core (evaluation, recipes, sweeps, masks, train).

A study module holds the experiments that only its notebook runs. No study imports another:
what two studies share lives in the core. Studies 02 (initialisation) and 06
(overparameterisation) need nothing beyond tickets.sweeps, so they have no module.
"""
