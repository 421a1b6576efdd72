"""Passkeys (WebAuthn): registering credentials, signing in with them, and managing them."""
