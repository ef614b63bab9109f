"""Who is calling: bearer tokens validated with PyJWT against a JWKS."""
