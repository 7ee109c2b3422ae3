"""ds-preprocessing job: the model (job.model), its artifact (job.artifact), and ``python -m job``."""
