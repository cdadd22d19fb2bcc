"""Judge protocols: prompts, output parsing and score combination for each kind of judge.

Built-in: ``viescore``, ``editscore``, ``spatialreward``, ``editthinker``, ``valuehead``. See docs/protocols.md.
"""

from .base import Call, Parsed, Protocol, RawBox, read_template
from .editscore import EditScore
from .editthinker import EditThinker
from .jsonscore import JsonScoreProtocol
from .registry import get_protocol, list_protocols, register_protocol
from .spatialreward import SpatialReward
from .valuehead import ValueHead
from .viescore import VIEScore

for _cls in (VIEScore, EditScore, SpatialReward, EditThinker, ValueHead):
    register_protocol(_cls)

__all__ = [
    "Call",
    "EditScore",
    "EditThinker",
    "JsonScoreProtocol",
    "Parsed",
    "Protocol",
    "RawBox",
    "SpatialReward",
    "VIEScore",
    "ValueHead",
    "get_protocol",
    "list_protocols",
    "read_template",
    "register_protocol",
]
