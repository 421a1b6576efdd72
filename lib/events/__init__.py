"""Security events: an audit trail of what happened to each account, for its owner and the admins."""
