import logging

from crm import context


class RequestIdFilter(logging.Filter):
    """Adds the current request id to every log record (empty outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = context.request_id.get()
        return True
