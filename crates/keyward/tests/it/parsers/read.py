"""One query string per line on stdin; prints 1 when parse_qsl (what
Django and Werkzeug build on, blank values kept) gives a `_method`."""
import sys
from urllib.parse import parse_qsl

for query in sys.stdin.read().split("\n")[:-1]:
    names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    print("1" if "_method" in names else "0")
