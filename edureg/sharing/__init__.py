"""Governed sharing with other agencies (issue 8): OAuth2 client credentials bound to sharing
agreements (agency, legal basis, purpose, allowed fields and look-ups, expiry, rate limit)."""
