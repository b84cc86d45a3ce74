"""Reading directory index pages: entries, directories, and the sizes servers print."""
# ruff: noqa: E501 -- the index pages are quoted as servers send them

from __future__ import annotations

from federate.errors import INVALID_PARAMETER_VALUE
from federate.repos.http_index import parse_index
from federate.testing.errors import raises_federate_error

BASE = "http://host/models/m/"

NGINX = """<html>
<head><title>Index of /models/m/</title></head>
<body>
<h1>Index of /models/m/</h1><hr><pre><a href="../">../</a>
<a href="sub/">sub/</a>                                               23-Nov-2026 11:11                   -
<a href="a%20b.bin">a b.bin</a>                                            23-Nov-2026 11:11               16384
<a href="a-very-long-name-that-nginx-cuts-in-the-text-of-the-page.bin">a-very-long-name-that-nginx-cuts-in-the-text-of..&gt;</a> 23-Nov-2026 11:11            7
</pre><hr></body>
</html>
"""

APACHE = """<table>
<tr><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=S;O=A">Size</a></th></tr>
<tr><td><a href="/models/">Parent Directory</a></td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="tiny.json">tiny.json</a></td><td align="right">2026-11-23 11:11  </td><td align="right">612 </td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="w.bin">w.bin</a></td><td align="right">2026-11-23 11:11  </td><td align="right"> 16K</td><td>&nbsp;</td></tr>
</table>
"""

PLAIN = """<ul><li><a href="x.bin">x.bin</a></li><li><a href="d/">d/</a></li>
<li><a href="http://elsewhere/y.bin">y</a></li></ul>"""


def test_nginx_index_gives_exact_sizes():
    assert parse_index(NGINX, BASE) == [
        ("a b.bin", False, 16384),
        ("a-very-long-name-that-nginx-cuts-in-the-text-of-the-page.bin", False, 7),
        ("sub", True, None),
    ]


def test_apache_rounded_sizes_are_unknown_exact_ones_kept():
    assert parse_index(APACHE, BASE) == [("tiny.json", False, 612), ("w.bin", False, None)]


def test_an_index_without_sizes_lists_names_only():
    assert parse_index(PLAIN, BASE) == [("d", True, None), ("x.bin", False, None)]


def test_an_entry_with_a_nul_in_its_name_is_an_error_naming_the_index():
    for page, shown in (
        ('<a href="ok.bin">ok</a> <a href="bad%00name.bin">bad</a>', "'bad\\x00name.bin'"),
        ('<a href="ok.bin">ok</a> <a href="bad\x00raw.bin">bad</a>', "'bad\\x00raw.bin'"),
    ):
        with raises_federate_error(
            INVALID_PARAMETER_VALUE, f"The directory index at {BASE} lists", shown, "NUL"
        ):
            parse_index(page, BASE)
