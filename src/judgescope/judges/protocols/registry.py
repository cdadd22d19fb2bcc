"""Protocols by name. Built-ins are registered on import of :mod:`judgescope.judges.protocols`; users add
their own with :func:`register_protocol` (a class or a ready instance)."""

from __future__ import annotations

from .base import Protocol

_REGISTRY: dict[str, type[Protocol] | Protocol] = {}


def register_protocol(
    protocol_or_class: type[Protocol] | Protocol, name: str | None = None, overwrite: bool = False
) -> type[Protocol] | Protocol:
    """Register a protocol class (instantiated per :func:`get_protocol` call) or instance (shared).

    Args:
        name: registry key; defaults to the protocol's ``name`` attribute.
        overwrite: replace an existing entry of the same name instead of raising.

    Returns:
        ``protocol_or_class`` unchanged, so it can be used as a class decorator.

    Raises:
        TypeError: not a Protocol class or instance. ValueError: no name, or the name is taken.
    """
    is_class = isinstance(protocol_or_class, type) and issubclass(protocol_or_class, Protocol)
    if not is_class and not isinstance(protocol_or_class, Protocol):
        raise TypeError(f"register_protocol needs a Protocol subclass or instance, got {protocol_or_class!r}")
    key = name or protocol_or_class.name
    if not key:
        raise ValueError(f"{protocol_or_class!r} has no name: set its `name` attribute or pass name=")
    if not protocol_or_class.calls:
        raise ValueError(f"protocol {key!r} defines no calls")
    if key in _REGISTRY and not overwrite and _REGISTRY[key] is not protocol_or_class:
        raise ValueError(f"a protocol named {key!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[key] = protocol_or_class
    return protocol_or_class


def get_protocol(name_or_instance: str | Protocol, **kwargs) -> Protocol:
    """A protocol instance from a registered name (``kwargs`` go to its class) or an instance (returned as is).

    Raises:
        KeyError: unknown name (the message lists the registered ones).
        TypeError: ``kwargs`` given for an instance, or for a name registered as an instance.
    """
    if isinstance(name_or_instance, Protocol):
        if kwargs:
            raise TypeError(f"options {sorted(kwargs)} cannot be applied to an existing protocol instance")
        return name_or_instance
    entry = _REGISTRY.get(name_or_instance)
    if entry is None:
        raise KeyError(f"unknown protocol {name_or_instance!r}; registered: {list_protocols()}")
    if isinstance(entry, Protocol):
        if kwargs:
            raise TypeError(
                f"protocol {name_or_instance!r} is registered as an instance and takes no options"
            )
        return entry
    return entry(**kwargs)


def list_protocols() -> list[str]:
    """Registered protocol names, sorted."""
    return sorted(_REGISTRY)
