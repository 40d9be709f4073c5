"""The pure core of control: mode sources and decisions, approvals, silences, who may do
what, and the input policy at every door. Imports only takeover.config."""
