"""The integrators' REST API (/api/v1/): API-key authentication, serializers and views."""
