"""Names the fitness tasks' options take, free of torch so that the command line can offer them
as choices (and refuse a bad one) without importing it."""

#: How the gan task scores samples (:class:`lossevo.fitness.gan.GanConfig`).
METRICS = ("auto", "domain_fid", "inception_fid")
