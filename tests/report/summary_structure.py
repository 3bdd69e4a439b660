"""Where the summary sits in an exported page: the first <section> of the body, nothing visible before it."""

from __future__ import annotations

from html.parser import HTMLParser


class _FirstSection(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_body = False
        self.skip = 0  # inside <script>/<style>
        self.text_before: list[str] = []
        self.first: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.in_body = True
        elif tag in ("script", "style"):
            self.skip += 1
        elif tag == "section" and self.in_body and self.first is None:
            self.first = dict(attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if self.in_body and not self.skip and self.first is None and data.strip():
            self.text_before.append(data.strip())


def first_section(page: str) -> tuple[dict[str, str | None] | None, list[str]]:
    """(attributes of the body's first <section>, visible text that comes before it)."""
    parser = _FirstSection()
    parser.feed(page)
    return parser.first, parser.text_before
