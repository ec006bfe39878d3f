"""The fleet commands' expected errors: one line naming the problem and the fix, no
traceback, exit status 1 (no services needed)."""

import pytest

from host.cli import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ingest", "--db", "nonsense=1 ===", "--verify"], "is not a PostgreSQL URL"),
        (["ingest", "--db", "postgresql://u@127.0.0.1:1/x", "--verify"], "cannot connect to"),
        (
            ["ingest", "--mqtt", "http://x", "--db", "postgresql://u@h/x"],
            "is not an MQTT broker URL",
        ),
        (["gateway", "--mqtt", "broker:1883"], "is not an MQTT broker URL: give mqtt://HOST"),
        (["gateway", "--mqtt", "mqtt://h:port"], "the port is not a number"),
    ],
)
def test_fleet_commands_fail_in_one_line(argv, message, capsys, tmp_path):
    code = main(argv + (["--db", str(tmp_path / "h.db")] if argv[0] == "gateway" else []))
    out, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert message in err and err.startswith("host: ")
