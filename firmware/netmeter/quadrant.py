# Four-quadrant classification of active and reactive power by their signs (docs/facts.md).
from micropython import const

QI = const(1)  # import, inductive
QII = const(2)  # export, Q >= 0
QIII = const(3)  # export, Q < 0
QIV = const(4)  # import, capacitive


def quadrant(p, q):
    """Quadrant of (P, Q) in the consumer frame (import positive).

    The rule for zeros: P = 0 counts as the import side and Q = 0 as the upper half, so
    (0, 0) is QI, (0, -1) is QIV and (-1, 0) is QII. A zero component books zero energy to
    its register, so the rule only decides where the other component's energy goes.
    """
    if p >= 0:
        return QI if q >= 0 else QIV
    return QII if q >= 0 else QIII
