"""The names of a loss's two conventions, free of torch and SymPy so that the command line can
offer them as choices (and refuse a bad one) without importing either.

``TRANSFORMS``: how the discriminator's raw score becomes y_pred (:mod:`lossevo.loss.transform`).
``GENERATOR_MODES``: how the generator's loss is formed (:mod:`lossevo.loss.reference`).
"""

TRANSFORMS = ("sigmoid", "raw")
GENERATOR_MODES = ("non_saturating", "minimax")
