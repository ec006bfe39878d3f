# The config validator's vocabulary: ConfigInvalid and the checks shared.config and its
# sections use, so that every refusal reads the same way: "key = value: rule; fix".
# Boot-only on a board.
#
# Whole-number floats are refused wherever an integer is meant (JSON 10.0 is a float): the
# firmware does integer arithmetic on these settings, and refusing says so at the host
# ("write 10, not 10.0") instead of truncating or failing at the next boot.

VALUE_MAX = 60  # characters of a bad value quoted in a message


class ConfigInvalid(ValueError):
    pass


def shown(value):
    """repr(value), cut to a readable length."""
    text = repr(value)
    if len(text) > VALUE_MAX:
        text = text[: VALUE_MAX - 3] + "..."
    return text


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return (isinstance(value, int) or isinstance(value, float)) and not isinstance(value, bool)


def _whole_float_hint(value):
    if isinstance(value, float) and value == value and value == int(value):
        return "; write %d, not %r" % (int(value), value)
    return ""


def int_in(key, value, low, high):
    """value if it is an integer in low..high; ConfigInvalid naming key, value and range."""
    if not is_int(value) or not low <= value <= high:
        raise ConfigInvalid(
            "%s = %s: must be an integer in %d..%d%s"
            % (key, shown(value), low, high, _whole_float_hint(value))
        )
    return value


def number_in(key, value, low, high, low_open=False):
    """value if it is a number in low..high ((low..high] with low_open)."""
    ok = is_number(value) and value <= high and (value > low if low_open else value >= low)
    if not ok:
        raise ConfigInvalid(
            "%s = %s: must be a number in %s%r..%r"
            % (key, shown(value), "> " if low_open else "", low, high)
        )
    return value


def one_of(key, value, allowed):
    """value if it is one of allowed (a whole-number float is not an integer here)."""
    ok = not isinstance(value, bool) and not isinstance(value, float) and value in allowed
    if not ok:
        raise ConfigInvalid(
            "%s = %s: allowed %s%s"
            % (key, shown(value), ", ".join([str(a) for a in allowed]), _whole_float_hint(value))
        )
    return value


def section(key, value):
    """value if it is a JSON object (a dict)."""
    if not isinstance(value, dict):
        raise ConfigInvalid("%s = %s: must be an object" % (key, shown(value)))
    return value


def known_keys(prefix, cfg, known):
    """Refuse a key of cfg that is not in known (a typo must not pass as a default)."""
    for key in cfg:
        if key not in known:
            raise ConfigInvalid(
                "%s%s is not a setting (known: %s)"
                % (prefix, str(key)[:VALUE_MAX], ", ".join(known))
            )
