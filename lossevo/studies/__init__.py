"""Multi-run studies under one protocol: replays of published comparisons and promotion of a
search's winners through stages.
"""
