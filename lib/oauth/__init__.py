"""OAuth 2.0 protocol code: the token endpoint's requests and grants, and what they carry."""
