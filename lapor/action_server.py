"""Run the rasa-sdk action server with the core's caches warmed in the background.

``python -m lapor.action_server --actions actions --port 5055`` takes the same
arguments as ``rasa run actions``. The gazetteer index, the routing table and
the category model are built lazily on first use (nothing at import time);
without a warm-up the first citizen to report after a restart waited about a
second for them. Here they are built in a background thread as the server
starts, so startup itself is not delayed.
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)


def warm_up() -> None:
    """Build the lazily loaded tables and models once."""
    try:
        from lapor import kategori, routing, wilayah

        routing.load_table()
        wilayah.resolve("desa sumberanyar kecamatan paiton")
        kategori.load_model()
        kategori.infer_kategori("jalan desa rusak berlubang sejak tiga bulan")
    except Exception:  # a warm-up must never stop the server
        logger.exception("warm-up failed; tables load on first use instead")


def main() -> None:
    """Start the warm-up, then rasa-sdk's own command line."""
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    from rasa_sdk.__main__ import main as sdk_main

    sdk_main()


if __name__ == "__main__":
    main()
