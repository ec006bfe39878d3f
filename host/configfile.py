"""Device configuration files for people: TOML (*.toml, via tomllib) or JSON with // and #
line comments, checked by the schema the device applies (shared/config.py)."""

import json
import tomllib
from pathlib import Path


class ConfigFileError(Exception):
    """A config file that cannot be read or is not a valid configuration; one line."""


def strip_json_comments(text):
    """JSON text without // and # comments (outside strings), line numbers kept."""
    out = []
    in_string = escaped = False
    i = 0
    while i < len(text):
        ch = text[i]
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif ch == "#" or text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


TOO_DEEP = "%s: nested too deeply to be a configuration (a config is at most a few levels deep)"


MAX_KEY_DEPTH = 64


def _toml_key_depth(text):
    """The most dots in a TOML key or table header: tomllib takes quadratic time in it (a
    100,000-part dotted key took minutes), so absurd depths are refused before parsing."""
    deepest = 0
    for line in text.splitlines():
        key = line.split("=", 1)[0]
        if key.lstrip()[:1] not in ("", "#", '"', "'"):
            deepest = max(deepest, key.count("."))
    return deepest


def parse(text, name="config"):
    """The configuration in text: TOML if name ends in .toml, else commented JSON."""
    # Both parsers recurse per level of nesting: a file nested thousands deep exhausts
    # Python's stack (RecursionError), which says nothing about the file to its user.
    if str(name).endswith(".toml"):
        if _toml_key_depth(text) > MAX_KEY_DEPTH:
            raise ConfigFileError(TOO_DEEP % name)
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError("%s: not valid TOML: %s" % (name, exc)) from None
        except ValueError as exc:  # e.g. an integer of more digits than int() takes
            raise ConfigFileError("%s: not a usable TOML value: %s" % (name, exc)) from None
        except RecursionError:
            raise ConfigFileError(TOO_DEEP % name) from None
    try:
        return json.loads(strip_json_comments(text))
    except RecursionError:
        raise ConfigFileError(TOO_DEEP % name) from None
    except json.JSONDecodeError as exc:
        raise ConfigFileError(
            "%s: not valid JSON at line %d column %d: %s" % (name, exc.lineno, exc.colno, exc.msg)
        ) from None
    except ValueError as exc:  # e.g. an integer of more digits than int() takes
        raise ConfigFileError("%s: not a usable JSON value: %s" % (name, exc)) from None


def validate(cfg, name="config"):
    """cfg if the device would accept it; ConfigFileError naming key, value and range."""
    from shared.config import ConfigInvalid
    from shared.config import validate as schema_validate

    try:
        return schema_validate(cfg)
    except ConfigInvalid as exc:
        raise ConfigFileError("%s: %s" % (name, exc)) from None
    except RecursionError:  # a parsed value nested deep enough to exhaust the stack
        raise ConfigFileError(TOO_DEEP % name) from None


def load(path):
    """Read, parse and validate a config file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigFileError("%s does not exist" % path) from None
    except (OSError, UnicodeError) as exc:
        raise ConfigFileError("cannot read %s: %s" % (path, exc)) from None
    return validate(parse(text, path.name), path.name)


def dump(cfg, path):
    """Write cfg as indented JSON (a .toml name is refused: there is no TOML writer)."""
    if str(path).endswith(".toml"):
        raise ConfigFileError("%s: config pull writes JSON; give a .json name" % path)
    Path(path).write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
