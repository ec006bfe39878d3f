# Strict JSON syntax, on both runtimes: MicroPython's json.loads takes {"a":}, {"a" 1},
# [1 2] and [1,] and drops or joins what it cannot read, so a PUT_CONFIG body the host would
# refuse could be written as a different config. check(text) raises ValueError where strict
# JSON (RFC 8259, as CPython's json) would; it only checks the token order, json.loads parses.

_VALUE, _KEY, _COLON, _COMMA_OR_CLOSE, _END = 0, 1, 2, 3, 4
_SCALAR = b"0123456789+-.eEtruefalsn"


# One scanner loop with its state in locals, on purpose: split per token, MicroPython would
# pay a call (and a tuple for the state) for each token of a PUT_CONFIG body.
def check(text):  # noqa: C901, PLR0912, PLR0915
    """Raise ValueError naming the offset if text is not one strict JSON value."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    stack = []  # 0x7B ({) or 0x5B ([) per open container
    expect = _VALUE
    closable = False  # a "}" or "]" may come now (just after the opening bracket)
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c in b" \t\r\n":
            i += 1
            continue
        at = i
        if c == 0x7B or c == 0x5B:  # { [
            if expect != _VALUE:
                break
            stack.append(c)
            expect = _KEY if c == 0x7B else _VALUE
            closable = True
            i += 1
            continue
        if c == 0x7D or c == 0x5D:  # } ]
            if not stack or stack[-1] != c - 2 or not (closable or expect == _COMMA_OR_CLOSE):
                break
            stack.pop()
        elif c == 0x3A:  # :
            if expect != _COLON:
                break
            expect, closable = _VALUE, False
            i += 1
            continue
        elif c == 0x2C:  # ,
            if expect != _COMMA_OR_CLOSE:
                break
            expect = _KEY if stack[-1] == 0x7B else _VALUE
            closable = False
            i += 1
            continue
        elif c == 0x22:  # a string: a key or a value
            if expect not in (_KEY, _VALUE):
                break
            i += 1
            while i < n and data[i] != 0x22:
                i += 2 if data[i] == 0x5C else 1
            if i >= n:
                raise ValueError("JSON: unterminated string at offset %d" % at)
            if expect == _KEY:
                expect, closable = _COLON, False
                i += 1
                continue
        elif c in _SCALAR:
            if expect != _VALUE:
                break
            while i + 1 < n and data[i + 1] in _SCALAR:
                i += 1
        else:
            break
        i += 1
        expect, closable = (_COMMA_OR_CLOSE if stack else _END), False
    else:
        if expect == _END and not stack:
            return
        raise ValueError("JSON: unexpected end at offset %d" % n)
    raise ValueError("JSON: unexpected %r at offset %d" % (chr(data[at]), at))
