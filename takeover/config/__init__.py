"""Configuration vocabulary shared by every layer: modes, durations, YAML files read
with positions, the one configuration error. Imports nothing else of takeover."""
