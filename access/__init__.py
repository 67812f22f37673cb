"""Who may do what: API keys, their roles and their permissions."""
