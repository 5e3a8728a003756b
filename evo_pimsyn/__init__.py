"""evo-pimsyn: evolutionary synthesis of ReRAM processing-in-memory CNN accelerators."""

__version__ = "0.1.0"
