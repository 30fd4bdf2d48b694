"""Running the stages: the notebook runner, the seeds' process pool and the environment
record."""
