"""Every write of the rewards app, one function per use case, named ``<entity>_<verb>``
with keyword-only arguments: ledger (postings), participants, spends, events, offers and
api_keys. Each runs in a transaction and raises rewards.services.errors on refusal."""
