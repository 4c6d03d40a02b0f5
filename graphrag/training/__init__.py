"""Fine-tuning, training-data builders, calibration and metrics. Used by scripts and the CLI; inference never imports
it."""
