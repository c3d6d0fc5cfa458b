<?php
// One query string per line on stdin; prints 1 when parse_str (what
// Laravel and Symfony read, like $_GET) gives a top-level `_method`.
foreach (file('php://stdin', FILE_IGNORE_NEW_LINES) as $query) {
    parse_str($query, $params);
    echo array_key_exists('_method', $params) ? "1\n" : "0\n";
}
