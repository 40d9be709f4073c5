"""Prometheus alerting rules: the file format, Go templates, the pure evaluator, the query
interface and one group evaluation. Imports only takeover.config."""
