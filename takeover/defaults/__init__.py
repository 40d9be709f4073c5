"""What the package ships for a user without a checkout: the Slack message templates (used when
TAKEOVER_TEMPLATES is unset and ./templates does not exist) and, for `takeover init`, example
rules, routing and policies (links to the repository's own). Data only: nothing to import."""
