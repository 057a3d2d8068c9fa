"""One module per scenario of issue 7; each returns a JSON-able dict for the report."""
