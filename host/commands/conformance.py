"""`host conformance`: the scenarios on the simulated board, or on a real board whose meter
the host plays (--device with --meter-port, and --pulse-port for a pulse feeder)."""

from pathlib import Path

from host.commands.device import key_dir_help
from host.errors import CommandError


def cmd_conformance(args):
    """Run the conformance scenarios against the simulated meter's truth; exit 1 on a failure."""
    from host.conformance import report
    from host.conformance.scenarios import SCENARIOS
    from host.conformance.simulated import run_suite

    if args.scenario not in ("all", *SCENARIOS):
        raise CommandError(
            "no scenario %r (known: all, %s)" % (args.scenario, ", ".join(SCENARIOS))
        )
    if args.pulse_port and not args.device:
        raise CommandError("--pulse-port needs --device: it feeds a real board's S0 inputs")
    if args.device:
        results = on_device(args)
    else:
        results = run_suite(args.scenario, deploy_with_mpremote=args.mpremote)
    print(report.table(results))
    if args.report:
        print("report: %s" % report.write(results, args.report))
    if not all(r.passed for r in results):
        raise CommandError("%d scenario(s) failed" % sum(1 for r in results if not r.passed))


def on_device(args):
    """The host plays the meter on --meter-port against the board on --device, in real time;
    with --pulse-port a pulse feeder board drives the board's S0 inputs."""
    from host.conformance import hardware
    from host.conformance.pulsefeed import FeederError
    from host.conformance.scenarios import select

    if not args.meter_port:
        raise CommandError(
            "--device needs --meter-port: the USB RS-485 adapter, e.g. /dev/ttyUSB0"
        )
    for port, what in (
        (args.meter_port, "the RS-485 adapter"),
        (args.pulse_port, "the pulse feeder"),
    ):
        if port and not Path(port).exists():
            raise CommandError("%s does not exist: is %s plugged in?" % (port, what))
    pulses = bool(args.pulse_port)
    scenarios = select(args.scenario)
    if args.scenario == "all":
        scenarios = [s for s in scenarios if runs_on_hardware(s, pulses)]
    else:
        try:
            hardware.hardware_config(scenarios[0], pulses)
        except hardware.HardwareError as exc:
            raise CommandError(str(exc)) from None
    state = args.state
    link = state.link()
    link.key = state.load_key(state.info().get("device_id") or "?")
    feeder = start_feeder(args.pulse_port) if pulses else None
    results = []
    try:
        for scenario in scenarios:
            print(
                "%s: %.0f min in real time ..." % (scenario.name, scenario.hours * 60), flush=True
            )
            try:
                results.append(
                    hardware.run_on_device(
                        scenario, link, args.meter_port, say=print, feeder=feeder
                    )
                )
            except (hardware.HardwareError, FeederError) as exc:
                raise CommandError(str(exc)) from None
    finally:
        if feeder is not None:
            feeder.close()
    return results


def start_feeder(port):
    from host.conformance.pulsefeed import FeederError, start_on_board
    from host.deploy import DeployError

    try:
        return start_on_board(port)
    except (FeederError, DeployError) as exc:
        raise CommandError(str(exc)) from None


def runs_on_hardware(scenario, pulses=False):
    from host.conformance.hardware import HardwareError, hardware_config

    try:
        hardware_config(scenario, pulses)
    except HardwareError:
        return False
    return True


def conformance_arguments(p):
    where = p.add_mutually_exclusive_group()
    where.add_argument("--sim", action="store_true", help="the simulated board (default)")
    where.add_argument("--device", help="a real board's port: the host plays its meter")
    p.add_argument("--meter-port", help="with --device: the USB RS-485 adapter to the board")
    p.add_argument(
        "--pulse-port",
        help="with --device: the USB serial port of a pulse feeder board (feeder/) wired to "
        "the board's S0 inputs; the host deploys and starts it and streams the S0 edges",
    )
    p.add_argument("--timeout", type=float, default=2.0, help="with --device: link reply wait")
    p.add_argument("--key", help="with --device: its link key file (to set its clock)")
    p.add_argument("--key-dir", help=key_dir_help())
    p.add_argument("--scenario", default="all", help="a scenario name, or all")
    p.add_argument("--report", help="directory for results.json and a PNG per scenario")
    p.add_argument("--mpremote", action="store_true", help="deploy each run with mpremote")
