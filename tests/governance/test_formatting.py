from html import unescape

import pytest

from governance.formatting import format_number, percentage_points, pretty_json, render_markdown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        pytest.param(5.0, "5", id="whole-float-has-no-decimals"),
        pytest.param(5, "5", id="int"),
        pytest.param(2000, "2,000", id="thousands"),
        pytest.param(0.04905153712, "0.049", id="small-fraction"),
        pytest.param(12.3456, "12.35", id="larger-number"),
        pytest.param("n/a", "n/a", id="not-a-number"),
    ],
)
def test_numbers_are_formatted_as_people_read_them(value, shown):
    assert format_number(value) == shown


def test_a_rate_difference_reads_in_percentage_points():
    assert percentage_points(0.142857) == "+14.3 pp"
    assert percentage_points(-0.05) == "-5.0 pp"


def test_json_is_pretty_printed_not_a_python_repr():
    html = unescape(pretty_json({"reason": "ship it", "previous": None, "ok": True}))

    assert '"previous": null' in html and '"ok": true' in html
    assert "None" not in html and "'reason'" not in html
    assert html.startswith('<pre class="json">')


def test_markdown_renders_headings_lists_tables_code_and_bold():
    html = render_markdown(
        "# Failure analysis f1\n\n- case: `borderline-medium` (protected)\n"
        "- status: **MISS**\n\n## Decided by\n\n| element | value |\n| --- | --- |\n"
        "| `thresholds[0]` | 0.4 |\n"
    )

    assert "<h2>Failure analysis f1</h2>" in html
    assert "<li>case: <code>borderline-medium</code> (protected)</li>" in html
    assert "<strong>MISS</strong>" in html
    assert "<th>element</th>" in html and "<td><code>thresholds[0]</code></td>" in html
    assert "#" not in html and "**" not in html and "| ---" not in html


def test_markdown_escapes_html_before_marking_up():
    html = render_markdown("- <script>alert(1)</script> **<b>x</b>** `<i>`")

    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;" in html and "<code>&lt;i&gt;</code>" in html
