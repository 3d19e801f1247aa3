// Temporary: replaced by the experiment runner.
