"""A second factor: TOTP (RFC 6238) codes and single-use recovery codes."""
