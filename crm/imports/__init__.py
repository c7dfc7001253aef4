"""Bulk import of customers from a scheme's member register (CSV or XML), and CSV export.

See docs/HELPDESK.md. ``parsing`` reads files into numbered rows, ``rows`` validates and
matches them, ``services`` runs the dry run and the import, ``tasks`` wraps them for Celery,
``export`` streams customers out.
"""
