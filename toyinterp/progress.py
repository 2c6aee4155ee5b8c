"""Progress bars for long work (training, sweeps over snapshots).

``bar(**tqdm_kwargs)`` returns a ``tqdm`` bar. Every long loop in the package makes its bar here, so where
bars are shown is decided in one place. This module is not part of the artifact store's key: changing how
progress is shown never invalidates a trained model.
"""
from __future__ import annotations

from tqdm import tqdm


def bar(**kwargs) -> tqdm:
    """A progress bar; ``kwargs`` are ``tqdm``'s (``total``, ``initial``, ``desc``, ``unit``, ``disable``, ...)."""
    kwargs.setdefault("mininterval", 2.0)
    return tqdm(**kwargs)
