# Runs the test_* functions of one module inside the MicroPython VM; one JSON line per test.
import io
import json
import sys

MARK = "@@netmeter-test "


def run(module_name, only):
    module = __import__(module_name)
    names = [n for n in dir(module) if n.startswith("test_")] if not only else only
    for name in names:
        fn = getattr(module, name)
        try:
            fn()
            result = {"name": name, "ok": True}
        except BaseException as exc:  # noqa: B036 - report everything, as pytest would
            buf = io.StringIO()
            sys.print_exception(exc, buf)
            result = {"name": name, "ok": False, "traceback": buf.getvalue()}
        print(MARK + json.dumps(result))


run(sys.argv[1], sys.argv[2:])
