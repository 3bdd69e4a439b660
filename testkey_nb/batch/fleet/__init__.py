"""The fleet index: one row per key over a batch of reports, as ``index.json`` and ``index.html``."""

from testkey_nb.batch.fleet.page import (
    CSV_DATA_TYPE,
    CSV_JS,
    FAILED,
    FILTER_JS,
    INDEX_HTML,
    INDEX_JSON,
    NOT_RENDERED,
    ROW_FIELDS,
    SORT_JS,
    balance_text,
    csv_payload,
    index_csv,
    index_html,
    index_row,
    limits_text,
    write_index,
)

__all__ = [
    "CSV_DATA_TYPE",
    "CSV_JS",
    "FAILED",
    "FILTER_JS",
    "INDEX_HTML",
    "INDEX_JSON",
    "NOT_RENDERED",
    "ROW_FIELDS",
    "SORT_JS",
    "balance_text",
    "csv_payload",
    "index_csv",
    "index_html",
    "index_row",
    "limits_text",
    "write_index",
]
