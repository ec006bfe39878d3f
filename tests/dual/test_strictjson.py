# Strict JSON syntax for PUT_CONFIG bodies: what CPython's json takes passes, what the
# MicroPython parser would take leniently (and read as something else) is refused.
from dualtest import Rng, raises
from shared.strictjson import check

STRICT = (
    '{"poll_period_s": 15, "rs485": {"baud": 9600}}',
    '{"netting": {"sources": ["registers", "power"], "crosscheck_percent": null}}',
    "[]",
    "{}",
    ' [ 1 , -2.5e3 , true , false , null , "a\\"b" , [ ] , { } ] ',
    '{"a": [[[{"b": [1, {"c": "d,}]"}]}]]]}',
    '"x"',
    "7",
)
LENIENT = (
    '{"a":}',
    '{"a": 1, "b":}',
    '{"a" 1}',
    "[1 2]",
    "[1,]",
    '{"a": 1,}',
    "{,}",
    "[,]",
    '{"a": 1 "b": 2}',
    '{"a": 1}}',
    "[1]]",
    "[1}",
    '{"a": [1}',
    "[",
    '{"a"',
    '"abc',
    "",
    "1 2",
    "{1: 2}",
    '{"a": 1}{"b": 2}',
    "[1:2]",
    '{"a"::1}',
)


def test_strict_json_passes():
    for text in STRICT:
        check(text)


def test_what_a_lenient_parser_would_take_is_refused():
    for text in LENIENT:
        exc = raises(ValueError, check, text)
        assert "offset" in str(exc), text


def test_agrees_with_the_json_module_on_mutated_configs():
    # On CPython json.loads is strict: whatever it refuses for syntax, check refuses too.
    import json
    import sys

    if sys.implementation.name != "cpython":
        return  # MicroPython's json is the lenient parser this module guards
    rng = Rng(3)
    base = '{"poll_period_s": 15, "rs485": {"baud": 9600}, "netting": {"sources": ["power"]}}'
    for _ in range(3000):
        text = bytearray(base.encode())
        for _ in range(rng.between(1, 3)):
            at = rng.below(len(text))
            op = rng.below(3)
            if op == 0:
                del text[at]
            elif op == 1:
                text.insert(at, b'{}[],:" 1'[rng.below(9)])
            else:
                text[at] = b'{}[],:" 1'[rng.below(9)]
        text = bytes(text).decode()
        try:
            json.loads(text)
            strict = True
        except ValueError:
            strict = False
        if strict:
            check(text)
        else:
            raises(ValueError, check, text)


def test_the_link_refuses_lenient_put_config_json_and_gives_the_checker_back():
    import sys

    from netmeter.link import _check_strict_json

    raises(ValueError, _check_strict_json, '{"poll_period_s": 15, "rs485":}')
    assert "shared.strictjson" not in sys.modules
    _check_strict_json('{"poll_period_s": 15}')
    assert "shared.strictjson" not in sys.modules
