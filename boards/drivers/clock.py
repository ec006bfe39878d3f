# Wall clocks in Unix epoch milliseconds (UTC) over a tick counter, optionally an RTC.
from shared.port import circle_diff

DAY_MS = 86400000


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    """(year, month, day) of days since 1970-01-01."""
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return (yoe + era * 400 + (m <= 2), m, d)


def unix_ms_to_fields(unix_ms):
    """(year, month, day, hour, minute, second, weekday Monday=0, ms) in UTC."""
    days, ms = divmod(unix_ms, DAY_MS)
    y, m, d = civil_from_days(days)
    s = ms // 1000
    return (y, m, d, s // 3600, s // 60 % 60, s % 60, (days + 3) % 7, ms % 1000)


def fields_to_unix_ms(y, m, d, hh, mm, ss, ms=0):
    return ((days_from_civil(y, m, d) * 24 + hh) * 60 + mm) * 60000 + ss * 1000 + ms


class MachineRtc:
    """machine.RTC as fields: datetime() is (y, m, d, weekday, h, min, s, subseconds).

    It holds calendar fields, not seconds since an epoch, so the port's epoch (2000-01-01
    on rp2/esp32, 1970 on unix) plays no part: the fields are UTC.
    """

    def __init__(self, rtc):
        self._rtc = rtc

    def read_ms(self):
        y, m, d, _wd, hh, mm, ss, _sub = self._rtc.datetime()
        return fields_to_unix_ms(y, m, d, hh, mm, ss)

    def write_ms(self, unix_ms):
        y, m, d, hh, mm, ss, wd, _ms = unix_ms_to_fields(unix_ms)
        self._rtc.datetime((y, m, d, wd, hh, mm, ss, 0))


class CircuitPythonRtc:
    """rtc.RTC().datetime, a time.struct_time of UTC fields."""

    def __init__(self, rtc, struct_time):
        self._rtc = rtc
        self._struct_time = struct_time

    def read_ms(self):
        t = self._rtc.datetime
        return fields_to_unix_ms(t[0], t[1], t[2], t[3], t[4], t[5])

    def write_ms(self, unix_ms):
        y, m, d, hh, mm, ss, wd, _ms = unix_ms_to_fields(unix_ms)
        yday = days_from_civil(y, m, d) - days_from_civil(y, 1, 1) + 1
        self._rtc.datetime = self._struct_time((y, m, d, hh, mm, ss, wd, yday, -1))


class TicksClock:
    """now_ms() in Unix epoch ms: an anchor (unix ms, ticks) advanced by the tick counter.

    Each now_ms() moves the anchor forward, so ticks that wrap every 2**30 ms stay exact as
    long as now_ms() is called at least every 2**29 ms (6 days). The RTC, if any, supplies
    the time before set_ms() (it may survive a soft reset) and receives every set_ms();
    is_set stays False until set_ms() has been called since boot.
    """

    def __init__(self, ticks_ms, ticks_diff=None, rtc=None):
        self._ticks = ticks_ms
        self._diff = ticks_diff or circle_diff
        self._rtc = rtc
        self.is_set = False
        # An external battery-backed RTC (boards.drivers.i2crtc): written at every set_ms.
        self.external = None
        self.rtc_state = None  # what INFO says about it
        base = rtc.read_ms() if rtc is not None else 0
        self._anchor_ms = base
        self._anchor_ticks = ticks_ms()

    def now_ms(self):
        t = self._ticks()
        self._anchor_ms += self._diff(t, self._anchor_ticks)
        self._anchor_ticks = t
        return self._anchor_ms

    def set_ms(self, unix_ms):
        self._anchor_ticks = self._ticks()
        self._anchor_ms = unix_ms
        if self._rtc is not None:
            self._rtc.write_ms(unix_ms)
        self.is_set = True
        if self.external is not None:
            try:
                self.external.write_ms(unix_ms)
            except OSError as exc:  # the board's clock is set all the same
                self.rtc_state = "%s: not written (OSError %s)" % (self.external.NAME, exc)
