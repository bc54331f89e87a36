"""The encoder producer's record: which model fingerprint made a collection's vectors, and at which precision.

int8-quantised vectors (``--backend onnx-int8``) are another fingerprint: 0.82-0.90 cosine to the float ones of
the same model, so a collection never mixes them; :func:`check_encoder` refuses a run that would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmir.index.ledger import ENCODER, Producer, producer, record_producer

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog

INT8 = "int8"


def encoder_setting(fingerprint: str, backend: str) -> str:
    """The encoder producer's setting: the fingerprint, marked ``+int8`` for int8-quantised vectors.

    int8 vectors are 0.82-0.90 cosine to the float ones of the same model: another fingerprint, never mixed.
    """
    return f"{fingerprint}+{INT8}" if backend == "onnx-int8" else fingerprint


def recorded_precision(catalog: Catalog) -> str | None:
    """``int8`` or ``float`` as recorded by the encoder producer; ``None`` when no encoder ran yet.

    A collection indexed before the ledger existed (files but no record) holds float vectors: int8 was never the
    default.
    """
    found = producer(catalog, ENCODER)
    if found is not None:
        return INT8 if found.setting.endswith(f"+{INT8}") else "float"
    has_files = catalog.connection.execute("SELECT 1 FROM media LIMIT 1").fetchone() is not None
    return "float" if has_files else None


def check_encoder(catalog: Catalog, where: str, fingerprint: str, backend: str) -> None:
    """Refuse to index with ``backend`` into a collection whose vectors have the other precision.

    Raises:
        CollectionError: an ``onnx-int8`` run on a float collection, or a float run on an int8 one.
    """
    from mmir.errors import CollectionError

    precision = recorded_precision(catalog)
    wanted = INT8 if backend == "onnx-int8" else "float"
    if precision is None or backend == "auto" or precision == wanted:
        return
    if wanted == INT8:
        raise CollectionError(
            f"{where} holds float vectors ({fingerprint}); --backend onnx-int8 makes int8-quantised ones (cosine "
            "0.82-0.90 to float) that would not compare with them: index into another --collection, or use "
            "--backend onnx or torch"
        )
    raise CollectionError(
        f"{where} holds int8-quantised vectors ({fingerprint}+{INT8}); --backend {backend} makes float ones that "
        "would not compare with them: use --backend onnx-int8 (or auto), or another --collection"
    )


def record_encoder(catalog: Catalog, fingerprint: str, backend: str, input_side: int) -> None:
    """Record the encoder that ran (its setting and the decode side channels are computed at)."""
    setting = encoder_setting(fingerprint, backend)
    found = producer(catalog, ENCODER)
    if found is None or found.setting != setting or found.detail.get("input_side") != input_side:
        record_producer(catalog, Producer(ENCODER, setting, {"input_side": int(input_side)}))
