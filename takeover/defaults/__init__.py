"""What the package ships for a user without a checkout: the Slack message templates (used when
TAKEOVER_TEMPLATES is unset and ./templates does not exist). Data only: nothing to import."""
