"""A loss function as one canonical SymPy expression: operators, the whitelisting formula
parser, torch code generation, reference losses, screening and export.

Nothing here knows about searches, training or runs; everything above builds on it.
"""
