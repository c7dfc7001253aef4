"""The claims API for customers: /api/v1/claims/... (docs/PORTAL.md, "The claims API")."""
