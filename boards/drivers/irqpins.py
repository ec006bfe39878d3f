# Hard-IRQ S0 inputs (rp2 and the simulated board): pin edges wired to PulseCounter handlers.
from netmeter.pulsecounter import PulseCounter
from netmeter.pulses import EDGE_FALLING, WIRING_DIRECTION


def input_pull(Pin, pulse_cfg):
    """Pull-up for an S0 output that pulls the input low (falling), else pull-down.

    The internal pull (about 50 kOhm) only backs up the external resistor of docs/wiring.md.
    """
    return Pin.PULL_UP if pulse_cfg["edge"] == EDGE_FALLING else Pin.PULL_DOWN


def attach_pulse_irqs(counter, pins, wiring, both_edges):
    """Bind counter's handlers to pins["import"]/["export"] or pins["pulse"] as hard IRQs.

    both_edges is the Pin.IRQ_FALLING | Pin.IRQ_RISING mask of the port: the handler reads the
    level so that it sees releases too (the end-of-pulse bounce rule of PulseCounter).
    """
    if wiring == WIRING_DIRECTION:
        pins["pulse"].irq(handler=counter.on_pulse_edge, trigger=both_edges, hard=True)
    else:
        pins["import"].irq(handler=counter.on_import_edge, trigger=both_edges, hard=True)
        pins["export"].irq(handler=counter.on_export_edge, trigger=both_edges, hard=True)
    return counter


def machine_pulse_counter(machine, pulse_cfg, pin_numbers, **counter_kwargs):
    """A PulseCounter on machine.Pin hard IRQs; pin_numbers maps import/export/direction."""
    Pin = machine.Pin
    pull = input_pull(Pin, pulse_cfg)
    try:
        import micropython

        # So that an exception inside a hard IRQ is reported instead of lost.
        micropython.alloc_emergency_exception_buf(100)
    except (ImportError, AttributeError):
        pass
    if pulse_cfg["wiring"] == WIRING_DIRECTION:
        pins = {
            "pulse": Pin(pin_numbers["import"], Pin.IN, pull),
            "direction": Pin(pin_numbers["direction"], Pin.IN, Pin.PULL_UP),
        }
    else:
        pins = {
            "import": Pin(pin_numbers["import"], Pin.IN, pull),
            "export": Pin(pin_numbers["export"], Pin.IN, pull),
        }
    counter = PulseCounter.from_config(
        pulse_cfg,
        direction_pin=pins.get("direction"),
        disable_irq=machine.disable_irq,
        enable_irq=machine.enable_irq,
        **counter_kwargs,
    )
    attach_pulse_irqs(counter, pins, pulse_cfg["wiring"], Pin.IRQ_FALLING | Pin.IRQ_RISING)
    counter.pins = pins
    return counter
