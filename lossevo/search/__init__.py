"""The evolutionary search: search spaces (with the shipped YAML files), DEAP glue, variation,
the generation loop and the run lifecycle (start, resume).
"""
