"""Open311 GeoReport v2 with Flask's test client: fields, filters, POST with keys,
and that confidential reports and personal data never come out."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask

from lapor import services, workflow
from lapor.db import session_scope
from lapor.models import Complaint, utcnow
from lapor.open311 import open311
from lapor.workflow import StaffActor

OPERATOR = StaffActor("ops1", "operator")
PUPR = StaffActor("pupr1", "opd", "PUPR")
KEY = "kunci-uji-311"
FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
# Personal data planted in descriptions, notes and reporter fields.
SECRETS = [
    "Budi Santoso",
    "Budi",
    "Santoso",
    "Siti Aminah",
    "0812 3456 7890",
    "081234567890",
    "6281234567890",
    "+6281234567890",
    "3456 7890",
    "081-2345-67890",
    "3513123456780001",
    "budi@mail.com",
    "RAHASIA-SEKALI",
    "Wahyuni",
]


@pytest.fixture
def client(db_url, monkeypatch):
    monkeypatch.setenv("OPEN311_API_KEYS", f"kunci-lain, {KEY}")
    app = Flask(__name__)
    app.config["LAPOR_DATABASE_URL"] = db_url
    app.register_blueprint(open311)
    return app.test_client()


def _file(session, **overrides) -> Complaint:
    values = dict(
        kategori="pembangunan",
        detail=(
            "Saya Budi Santoso, hp 0812 3456 7890, NIK 3513123456780001, email "
            "budi@mail.com. Jalan rusak parah di depan rumah, sudah 3 bulan."
        ),
        reporter_id="6281234567890",
        channel="whatsapp",
        kecamatan_code="35.13.12",
        desa_code="35.13.12.2018",
        reporter_name="Budi Santoso",
    )
    values.update(overrides)
    filed = services.file_complaint(session, services.NewComplaint(**values))
    return services.find_by_ticket(session, filed.ticket)


@pytest.fixture
def data(db_url):
    """A public, an anonymous, a confidential, a closed and an old complaint."""
    with session_scope(db_url) as s:
        public = _file(s)
        workflow.verify(s, public, OPERATOR)
        workflow.dispose(s, public, OPERATOR, ["PUPR", "CAMAT-35.13.12"])
        workflow.follow_up(
            s,
            public,
            PUPR,
            "Sudah disurvei, hubungi 081-2345-67890 (Bu Siti Aminah)",
            dt.date.today() + dt.timedelta(days=60),
        )
        workflow.record_citizen_reply(s, public, "Terima kasih, saya Wahyuni")
        anonymous = _file(
            s,
            anonymous=True,
            reporter_name="Wahyuni",
            reporter_id="6285711112222",
            detail="Saya Wahyuni, puskesmas tutup terus tiap sore di desa kami",
            kategori="kesehatan",
        )
        confidential = _file(
            s,
            confidential=True,
            detail="RAHASIA-SEKALI pungutan liar di kantor desa",
            kategori="pemerintahan",
        )
        closed = _file(
            s, detail="Lampu jalan mati di dekat pasar", lat=-7.7231, lon=113.4121
        )
        workflow.verify(s, closed, OPERATOR)
        workflow.reject(s, closed, OPERATOR, "Sudah dilaporkan warga lain")
        old = _file(s, detail="Jembatan bambu goyang dan berbahaya")
        old.created_at = utcnow() - dt.timedelta(days=120)
        return {
            "public": public.ticket,
            "anonymous": anonymous.ticket,
            "confidential": confidential.ticket,
            "closed": closed.ticket,
            "old": old.ticket,
        }


def _no_secrets(response) -> None:
    body = response.get_data(as_text=True)
    for secret in SECRETS:
        assert secret.lower() not in body.lower(), secret


def test_services(client):
    r = client.get("/open311/v2/services.json")
    assert r.status_code == 200
    services_ = r.get_json()
    assert [s["service_code"] for s in services_] == [
        "pemerintahan",
        "pembangunan",
        "kesehatan",
    ]
    for s in services_:
        assert s["metadata"] is False and s["type"] == "realtime"
        assert s["service_name"] and s["keywords"] and s["group"]
    assert services_[1]["service_name"] == "Pembangunan"
    assert client.get("/open311/v2/services.xml").status_code == 404


def test_requests_fields_and_privacy(client, data):
    r = client.get("/open311/v2/requests.json")
    assert r.status_code == 200
    items = {i["service_request_id"]: i for i in r.get_json()}
    # Confidential never listed; the 120-day-old one is outside the default 90 days.
    assert set(items) == {data["public"], data["anonymous"], data["closed"]}
    for item in items.values():
        assert set(item) == FIELDS
        assert item["media_url"] is None
        assert isinstance(item["lat"], float) and isinstance(item["long"], float)
    _no_secrets(r)

    public = items[data["public"]]
    assert public["status"] == "open" and public["service_code"] == "pembangunan"
    assert "Dinas Pekerjaan Umum" in public["agency_responsible"]
    assert "Camat Paiton" in public["agency_responsible"]
    assert "Kecamatan Paiton" in public["address"]
    assert "Jalan rusak parah" in public["description"]
    assert "[PHONE" in public["description"] and "[NIK" in public["description"]
    assert public["status_notes"].startswith("Sudah disurvei")
    assert public["expected_datetime"].endswith("+07:00")
    assert public["requested_datetime"].endswith("+07:00")
    # The desa centroid from the region data (no pin given).
    assert -8.2 < public["lat"] < -7.5 and 112.8 < public["long"] < 113.9

    anonymous = items[data["anonymous"]]
    assert "puskesmas" not in anonymous["description"]

    closed = items[data["closed"]]
    assert closed["status"] == "closed" and closed["expected_datetime"] is None
    assert closed["status_notes"] == "Sudah dilaporkan warga lain"
    assert (closed["lat"], closed["long"]) == (-7.723, 113.412)  # rounded pin


def test_filters(client, data):
    get = lambda q: {  # noqa: E731
        i["service_request_id"]
        for i in client.get(f"/open311/v2/requests.json?{q}").get_json()
    }
    assert get("status=closed") == {data["closed"]}
    assert get("status=open") == {data["public"], data["anonymous"]}
    assert get("service_code=kesehatan") == {data["anonymous"]}
    start = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=200)).isoformat()
    assert data["old"] in get(f"start_date={start.replace('+00:00', 'Z')}")
    end = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=100)).isoformat()
    assert get(
        f"start_date={start.replace('+00:00', 'Z')}&end_date={end.replace('+00:00', 'Z')}"
    ) == {data["old"]}
    ids = f"{data['public']},{data['confidential']},{data['old']}"
    assert get(f"service_request_id={ids}") == {data["public"], data["old"]}
    bad = client.get("/open311/v2/requests.json?status=pending")
    assert bad.status_code == 400 and bad.get_json()[0]["code"] == 400
    assert client.get("/open311/v2/requests.json?start_date=kemarin").status_code == 400
    assert client.get("/open311/v2/requests.xml").status_code == 404


def test_single_request_and_confidential_404(client, data):
    r = client.get(f"/open311/v2/requests/{data['public']}.json")
    assert r.status_code == 200
    [item] = r.get_json()
    assert item["service_request_id"] == data["public"] and set(item) == FIELDS
    _no_secrets(r)
    hidden = client.get(f"/open311/v2/requests/{data['confidential']}.json")
    assert hidden.status_code == 404
    assert hidden.get_json() == [
        {"code": 404, "description": f"Laporan {data['confidential']} tidak ditemukan"}
    ]
    _no_secrets(hidden)
    assert client.get("/open311/v2/requests/LK-ZZZZZZ.json").status_code == 404
    assert client.get(f"/open311/v2/requests/{data['public']}.xml").status_code == 404


def test_post_requires_a_valid_key(client, db_url):
    form = {
        "service_code": "pembangunan",
        "description": "Saluran air tersumbat",
        "address_string": "desa Sumberanyar kec Paiton",
    }
    r = client.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 400 and "api_key" in r.get_json()[0]["description"]
    r = client.post("/open311/v2/requests.json", data={**form, "api_key": "salah"})
    assert r.status_code == 403 and r.get_json()[0]["code"] == 403
    with session_scope(db_url) as s:
        assert s.query(Complaint).count() == 0


def test_post_files_a_complaint(client, db_url):
    form = {
        "api_key": KEY,
        "service_code": "pembangunan",
        "description": "Saluran air tersumbat, hubungi 0812 3456 7890",
        "address_string": "desa Sumberanyar kec Paiton",
        "first_name": "Budi",
        "last_name": "Santoso",
        "phone": "081234567890",
        "email": "budi@mail.com",
    }
    r = client.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 200, r.get_data(as_text=True)
    [answer] = r.get_json()
    ticket = answer["service_request_id"]
    assert ticket.startswith("LK-") and answer["service_notice"]
    _no_secrets(r)
    with session_scope(db_url) as s:
        c = services.find_by_ticket(s, ticket)
        assert c.channel == "open311" and c.status == "baru"
        assert c.kecamatan_code == "35.13.12" and c.desa_code is not None
        assert c.reporter_id.startswith("open311:") and KEY not in c.reporter_id
    shown = client.get(f"/open311/v2/requests/{ticket}.json")
    _no_secrets(shown)
    [item] = shown.get_json()
    assert item["status"] == "open" and "Sumberanyar" in item["address"]


def test_post_with_a_pin(client, db_url):
    import csv

    from lapor import config

    with (config.wilayah_dir() / "desa.csv").open(encoding="utf-8") as handle:
        row = next(
            r for r in csv.DictReader(handle) if r["kecamatan_name"] == "Kraksaan"
        )
    form = {
        "api_key": KEY,
        "service_code": "kesehatan",
        "description": "Posyandu tidak buka bulan ini",
        "lat": row["lat"],
        "long": row["lon"],
    }
    r = client.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 200, r.get_data(as_text=True)
    with session_scope(db_url) as s:
        c = services.find_by_ticket(s, r.get_json()[0]["service_request_id"])
        assert c.desa_code == row["code"] and c.lat == pytest.approx(float(row["lat"]))


@pytest.mark.parametrize(
    "change, code",
    [
        ({"service_code": "air"}, 404),
        ({"service_code": ""}, 400),
        ({"description": " "}, 400),
        ({"address_string": ""}, 400),
        ({"address_string": "Jakarta Selatan"}, 400),
        ({"address_string": "", "lat": "-6.2", "long": "106.8"}, 400),
        ({"address_string": "", "lat": "-7.7"}, 400),
    ],
)
def test_post_rejects_bad_input(client, db_url, change, code):
    form = {
        "api_key": KEY,
        "service_code": "pembangunan",
        "description": "Saluran air tersumbat",
        "address_string": "desa Sumberanyar kec Paiton",
        **change,
    }
    r = client.post("/open311/v2/requests.json", data=form)
    assert r.status_code == code
    assert r.get_json()[0]["code"] == code and r.get_json()[0]["description"]
    with session_scope(db_url) as s:
        assert s.query(Complaint).count() == 0
