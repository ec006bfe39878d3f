"""The simulated meter as a real pymodbus 3.16 RTU server on a pty, in a background thread."""

import asyncio
import threading

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from host.sim.faults import EXCEPTION, ReplyFaults
from host.sim.ptyrelay import RtuRelay
from host.sim.registers import RegisterImage

START_TIMEOUT_S = 10.0


class ServerError(RuntimeError):
    pass


def _register_block(blocks, function):
    if function not in blocks:
        # Nothing of the map is read with this function: every address answers 02.
        return [SimData(0, datatype=DataType.INVALID)]
    first, count = blocks[function]
    return [SimData(first, count=count, values=0, datatype=DataType.REGISTERS, readonly=True)]


class MeterServer:
    """Serves a SimMeter's registers in one register map to a client on a pty.

    Use as a context manager; the client opens `device_path` (pyserial, or open(path,
    "r+b") in the MicroPython unix port). Each read fills the registers from the meter's
    state at that moment (after `meter.sync()`, so real-time mode needs nothing more).

    Fault knobs: `faults` (ReplyFaults: corrupt_crc, no_reply, stale_reply, exception,
    wrong_unit, truncate, garbage), `registers` (RegisterImage: reset_counters, rollover,
    stick_export) and `meter` (invert_ct, attenuate_ct). `clear_faults()` clears all.
    """

    def __init__(self, meter, regmap="generic", unit_id=None, baudrate=9600, port=None):
        self.meter = meter
        self.port = port  # a real serial port (USB RS-485 adapter) instead of a pty
        self.registers = RegisterImage(meter, regmap)
        self.regmap = self.registers.regmap
        self.unit_id = self.regmap.unit_id if unit_id is None else unit_id
        self.baudrate = baudrate
        self.faults = ReplyFaults()
        self.relay = None
        self._thread = None
        self._loop = None
        self._stopping = None
        self._ready = threading.Event()
        self._error = None

    @property
    def device_path(self):
        """The client side of the line: a raw pty device such as /dev/pts/7 (or the real
        serial port given as `port`)."""
        return self.relay.client_path

    def clear_faults(self):
        self.faults.clear()
        self.registers.clear()
        self.meter.clear_ct_faults()

    def start(self):
        self.relay = RtuRelay(self.faults, self.unit_id, self.port, self.baudrate)
        self._thread = threading.Thread(target=self._run, name="sim-meter-modbus", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._error:
            self.stop()
            raise ServerError(
                "the simulated meter's Modbus server did not start: %s"
                % (self._error or "timeout",)
            )
        return self

    def stop(self):
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set_result, None)
        if self._thread is not None:
            self._thread.join(START_TIMEOUT_S)
            self._thread = None
        if self.relay is not None:
            self.relay.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _run(self):
        try:
            asyncio.run(self._serve())
        except Exception as exc:  # reported to start(), which raises it in the caller
            self._error = exc
            self._ready.set()

    async def _serve(self):
        self._loop = asyncio.get_running_loop()
        self._stopping = self._loop.create_future()
        blocks = self.registers.blocks
        device = SimDevice(
            id=self.unit_id,
            simdata=(
                [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                _register_block(blocks, 3),
                _register_block(blocks, 4),
            ),
            action=self._fill_registers,
        )
        server = ModbusSerialServer(
            device, framer=FramerType.RTU, port=self.relay.server_path, baudrate=self.baudrate
        )
        self.relay.attach(self._loop)
        try:
            await server.serve_forever(background=True)
            self._ready.set()
            await self._stopping
        finally:
            self.relay.detach()
            await server.shutdown()

    async def _fill_registers(self, function, start, address, count, registers, values):
        injected = self.faults.take(EXCEPTION)
        if injected is not None:
            return injected["code"]
        if values is not None or function not in self.registers.blocks:
            return ExcCodes.ILLEGAL_ADDRESS
        self.meter.sync()
        first, words, errors = self.registers.words(function)
        if any(a in errors for a in range(address, address + count)):
            return ExcCodes.ILLEGAL_VALUE
        registers[first - start : first - start + len(words)] = words
        return None
