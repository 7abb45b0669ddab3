"""Evidence and reports: results.json (schema beside it), the model x behaviour grid and status
vocabulary, the sign-off (Markdown + HTML) and merging several machines' results.
May import `data` and `serving` (the run's hardware, redaction); never the pytest glue."""
