"""Commands around the service: rule unit tests, backtests, readiness, the demo, a
throwaway Prometheus. Imports server and everything below it."""
