"""tiledet: find small objects in very large aerial and satellite images."""

from __future__ import annotations

__version__ = "0.1.0"
