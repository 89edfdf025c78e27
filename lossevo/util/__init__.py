"""Small utilities with no lossevo dependencies: atomic files, hashing, YAML reading, errors."""
