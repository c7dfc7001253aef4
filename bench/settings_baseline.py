"""The minimal-DRF baseline server: the same settings and middleware as the product, only
the URLconf differs (bench/baseline_urls.py), so the ratio isolates what an endpoint does."""

from bench.settings import *  # noqa: F403

ROOT_URLCONF = "bench.baseline_urls"
