"""The fleet index: one row per key over a batch of reports, as ``index.json`` and ``index.html``.

``rows.py`` builds the rows (and their CSV), ``page.py`` the offline page; its style and scripts are
package data in ``static/``.
"""

from testkey_nb.batch.fleet.page import CSV_DATA_TYPE, CSV_JS, FILTER_JS, SORT_JS, csv_payload, index_html, write_index
from testkey_nb.batch.fleet.rows import (
    FAILED,
    INDEX_HTML,
    INDEX_JSON,
    NOT_RENDERED,
    ROW_FIELDS,
    balance_text,
    balances_text,
    index_csv,
    index_row,
    limits_text,
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
    "balances_text",
    "csv_payload",
    "index_csv",
    "index_html",
    "index_row",
    "limits_text",
    "write_index",
]
