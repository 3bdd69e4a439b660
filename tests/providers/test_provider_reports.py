"""identity / balance / limits reach the key report view and the fleet index row and page."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from documented import Documented, key_for

from testkey_nb.batch.fleet import index_html, index_row
from testkey_nb.check.result import CheckOptions
from testkey_nb.check.run import check_key_async
from testkey_nb.report.views import account_html
from testkey_nb.secrets import Secret


def _check(provider: str, mode: str = "valid"):
    doc = Documented.load(provider)
    options = CheckOptions(claim=provider, timeout_s=3.0, deadline_s=5.0)
    return asyncio.run(check_key_async(Secret(key_for(provider, mode)), options, transport=doc.transport()))


def test_balance_identity_and_limits_in_the_report_and_the_index() -> None:
    deepseek, openai = _check("deepseek"), _check("openai")
    page = account_html(deepseek.profile)
    assert "CNY" in page and "<code>balance</code>" in page and "110" in page
    page = account_html(openai.profile)
    assert "org-EmuTestkeyNbOrg000000001" in page and "tokens per minute" in page and "permission_matrix" in page
    assert "0.009 s" in page  # the duration reset 9ms, parsed
    assert "unsupported" in page  # no balance endpoint: said, not guessed
    rows = [index_row(c.label, summary=c.summary(), report=f"{c.label}.html") for c in (deepseek, openai)]
    assert rows[0]["balance"]["remaining"] == 110.0 and not rows[0]["limits"]
    assert rows[1]["identity"]["organization"] == "org-EmuTestkeyNbOrg000000001"
    assert rows[1]["tokens_limit"] == 160000 and rows[1]["tokens_limit_day"] == 160000 * 1440
    html = index_html(rows)
    assert "CNY" in html and "balance" in html
