"""A complaint as the tests file it: a road in Desa Sumberanyar, Paiton."""

from __future__ import annotations

from lapor import services
from lapor.models import Complaint

REPORTER = "6281234567890"


def new_complaint(**overrides) -> services.NewComplaint:
    """What the intake would collect, with ``overrides`` applied."""
    values = dict(
        kategori="pembangunan",
        detail="Jalan rusak parah dan berlubang di depan balai desa sejak 3 bulan",
        reporter_id=REPORTER,
        channel="whatsapp",
        kecamatan_code="35.13.12",
        desa_code="35.13.12.2018",
        reporter_name="Budi Santoso",
    )
    values.update(overrides)
    return services.NewComplaint(**values)


def filed_complaint(session, **overrides) -> Complaint:
    """File one and return the stored row."""
    filed = services.file_complaint(session, new_complaint(**overrides))
    return services.find_by_ticket(session, filed.ticket)
