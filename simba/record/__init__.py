"""The run's record: the run database (``.simba/run.db``), its writer and its readers."""
