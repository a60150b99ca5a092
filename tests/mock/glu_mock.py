#!/usr/bin/env python3
"""Mock of the Glu customer-platform API over HTTPS, for tillsync's integration tests and demo.

Stands in for https://api.glu.io as described by shared/seeds/glu-contacts.md and
shared/seeds/glu-add-an-activity-to-a-contact.md. Python standard library only.

    glu_mock.py --port PORT --cert CERT.pem --key KEY.pem --api-key-file FILE
                [--state STATE.json] [--host 127.0.0.1] [--port-file F] [--verbose]

API (header x-api-key required, else 401):
    POST /contacts            create-or-update by emailAddress (case-insensitive), else phoneNumber
    GET  /contacts?emailAddress[]=x[&phoneNumber[]=y]   list of matching contacts (all if no filter)
    GET  /contacts/{id}
    POST /activities          validated as the seed describes; deduplicated on
                              type + externalReference (the stored activity comes back, 200)
    GET  /activities/{id}
Errors are JSON {"error": "<field>: <reason>"}: 400 bad JSON, 401 key, 404, 405, 413, 415 not JSON,
422 validation.

Test control, faults and --state are mock_common's (see its docstring): GET /_mock/requests,
/_mock/contacts, /_mock/activities; /_mock/fault; POST /_mock/reset. "reset_after_record" drops
the answer of successful POST /activities (201, or 200 for a duplicate).
"""

import datetime
import re
import sys

import mock_common
from mock_common import ApiError, is_int, now_iso, read_secret, secret_matches, shown

ACTIVITY_TYPES = (
    "Booking", "Checked in", "Checked out", "Purchase", "Shopify order", "Gift card registered",
    "Login", "Connected to wifi", "Membership started", "Changed tier", "Membership cancelled",
    "Referral invite created", "Referral invite completed", "Golf reservation", "Table reservation",
)
# Types that are orders for the contact's totalOrders; every activity's spend counts to totalSpend
# ("All activities have a spend that is automatically applied to the contacts lifetime value").
ORDER_TYPES = {"Purchase", "Shopify order"}
# The type-specific extras the seed names are accepted (and echoed) but not checked further.
ACTIVITY_FIELDS = {"contact", "type", "source", "happenedAt", "spend", "currencyCode",
                   "externalReference", "booking", "giftCard", "referralInvite"}
ACTIVITY_EXTRAS = ("booking", "giftCard", "referralInvite")
CONTACT_FIELDS = ("emailAddress", "phoneNumber", "firstName", "lastName")

# Activity ids live in another range than contact ids so that a client mixing them up gets a
# 422/404 instead of silently hitting the wrong object.
FIRST_CONTACT_ID = 1000
FIRST_ACTIVITY_ID = 5000

RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
CURRENCY = re.compile(r"[A-Z]{3}")


def fail(field, reason):
    raise ApiError(422, f"{field}: {reason}")


def parse_datetime(text):
    """RFC 3339 date-time with a mandatory offset; None if not one (fromisoformat alone would
    accept dates without a time and times without an offset)."""
    if not isinstance(text, str) or not RFC3339.fullmatch(text):
        return None
    try:
        return datetime.datetime.fromisoformat(text.upper())
    except ValueError:  # e.g. month 13, 30 February, hour 24
        return None


class Glu(mock_common.Platform):
    NAME = "glu_mock"
    DESCRIPTION = "Mock of the Glu API over HTTPS."
    COLLECTIONS = {"contacts": "id", "activities": "id"}
    ROUTES = [
        ("POST", r"/contacts", "upsert_contact"),
        ("GET", r"/contacts", "find_contacts"),
        ("POST", r"/activities", "add_activity"),
        ("GET", r"/contacts/(?P<id>\d+)", "get_contact"),
        ("GET", r"/activities/(?P<id>\d+)", "get_activity"),
    ]
    RECORD = ("POST", r"/activities")
    FAULT_422_MESSAGE = "spend: mock fault: rejected"

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--api-key-file", required=True)

    def __init__(self, args):
        super().__init__(args)
        self.api_key = read_secret(args.api_key_file)

    def auth(self, req):
        key_state = secret_matches(req.header("x-api-key"), self.api_key)
        return key_state, f"x-api-key: {key_state}"

    def clear(self):
        self.contacts = self.state.tables["contacts"]  # id -> contact, in creation order
        self.activities = self.state.tables["activities"]  # id -> activity
        self.by_email = {}  # lower-cased email -> contact
        self.by_ref = {}  # (type, externalReference) -> activity
        self.next_contact_id = FIRST_CONTACT_ID
        self.next_activity_id = FIRST_ACTIVITY_ID

    def indexed(self, table, obj):
        if table == "contacts":
            self.next_contact_id = max(self.next_contact_id, obj["id"] + 1)
            if obj["emailAddress"]:
                self.by_email[obj["emailAddress"].lower()] = obj
        else:
            self.next_activity_id = max(self.next_activity_id, obj["id"] + 1)
            if obj["externalReference"] is not None:
                self.by_ref[(obj["type"], obj["externalReference"])] = obj

    # --- contacts -------------------------------------------------------------------------

    def upsert_contact(self, req):
        body = req.json()
        for field in body:
            if field not in CONTACT_FIELDS:  # a typo in a field name must not vanish silently
                fail(field, "unknown field")
        for field in CONTACT_FIELDS:
            if field in body and not isinstance(body[field], str):
                fail(field, "must be a string")
        # An empty string is "not given": it neither identifies a contact nor erases a value.
        given = {f: body[f] for f in CONTACT_FIELDS if body.get(f)}
        email, phone = given.get("emailAddress"), given.get("phoneNumber")
        if email is not None:
            if not mock_common.EMAIL.fullmatch(email):
                fail("emailAddress", f"not a valid email address: {shown(email)}")
            contact = self.by_email.get(email.lower())
        elif phone is not None:
            contact = next((c for c in self.contacts.values() if c["phoneNumber"] == phone), None)
        else:
            fail("emailAddress", "required (or phoneNumber)")

        now = now_iso()
        if contact is None:
            status = 201
            contact = {
                "id": self.next_contact_id, "emailAddress": None, "phoneNumber": None,
                "organisation": 1, "createdAt": now, "updatedAt": now, "referralInvites": [],
                "firstName": None, "lastName": None, "name": None, "timezone": "Europe/London",
                "totalSpend": 0, "lastInteractedAt": None, "totalOrders": 0,
            }
        else:
            status = 200
            given.pop("emailAddress", None)  # keep the address as first written; only case differs
        contact.update(given)
        names = (contact["firstName"], contact["lastName"])
        contact["name"] = " ".join(n for n in names if n) or None
        contact["updatedAt"] = now
        self.state.put("contacts", contact)
        return status, contact

    def find_contacts(self, req):
        def values(name):  # Glu's own form is name[]=...; accept the bare name too
            return req.query.get(name + "[]", []) + req.query.get(name, [])
        emails = {e.lower() for e in values("emailAddress")}
        phones = set(values("phoneNumber"))
        return 200, [c for c in self.contacts.values()
                     if (not emails or (c["emailAddress"] or "").lower() in emails)
                     and (not phones or c["phoneNumber"] in phones)]

    def get_contact(self, req, id):
        return self._get(self.contacts, "contact", id)

    def get_activity(self, req, id):
        return self._get(self.activities, "activity", id)

    @staticmethod
    def _get(table, noun, id):
        found = table.get(int(id))
        if found is None:
            raise ApiError(404, f"id: no {noun} with id {id}")
        return 200, found

    # --- activities -----------------------------------------------------------------------

    def add_activity(self, req):
        body = req.json()
        unknown = sorted(set(body) - ACTIVITY_FIELDS)
        if unknown:
            fail(unknown[0], "unknown field")

        contact_id = body.get("contact")
        if contact_id is None:
            fail("contact", "required")
        if not is_int(contact_id):
            fail("contact", "must be an integer contact id")
        contact = self.contacts.get(contact_id)
        if contact is None:
            fail("contact", f"no contact with id {contact_id}")

        kind = body.get("type")
        if kind is None:
            fail("type", "required")
        if not isinstance(kind, str) or kind not in ACTIVITY_TYPES:
            fail("type", f"unknown activity type {shown(kind)}")

        source = body.get("source")
        if not isinstance(source, str) or not source:
            fail("source", "required, a non-empty string")

        happened_at = body.get("happenedAt")
        if happened_at is None:
            fail("happenedAt", "required")
        happened = parse_datetime(happened_at)
        if happened is None:
            fail("happenedAt", f"not an RFC 3339 date-time with an offset: {shown(happened_at)}")

        spend, currency = body.get("spend"), body.get("currencyCode")
        if kind == "Purchase" and spend is None:
            fail("spend", "required for a Purchase")
        if spend is not None and not (is_int(spend) and spend >= 0):
            fail("spend", f"must be an integer >= 0 (minor currency units), got {shown(spend)}")
        if kind == "Purchase" and currency is None:
            fail("currencyCode", "required for a Purchase")
        if currency is not None and not (isinstance(currency, str)
                                         and CURRENCY.fullmatch(currency)):
            fail("currencyCode", f"must be 3 uppercase letters (ISO 4217), got {shown(currency)}")

        ref = body.get("externalReference")
        if ref is not None and not (isinstance(ref, str) and ref):
            fail("externalReference", "must be a non-empty string")
        if "booking" in body and not isinstance(body["booking"], dict):
            fail("booking", "must be an object")

        # As Glu does: a duplicate returns the activity already stored, whatever else differs,
        # and the contact's totals are not touched again.
        existing = self.by_ref.get((kind, ref)) if ref is not None else None
        if existing is not None:
            req.note(duplicate=True)  # in the request log: an answered resend, nothing stored
            return 200, existing

        now = now_iso()
        activity = {
            "id": self.next_activity_id, "contact": contact_id, "happenedAt": happened_at,
            "createdAt": now, "updatedAt": now, "type": kind, "source": source,
            "externalReference": ref, "spend": spend or 0, "currencyCode": currency,
        }
        activity.update({k: body[k] for k in ACTIVITY_EXTRAS if k in body})
        self.state.put("activities", activity)

        contact["totalSpend"] += activity["spend"]
        if kind in ORDER_TYPES:
            contact["totalOrders"] += 1
        last = parse_datetime(contact["lastInteractedAt"])
        if last is None or happened > last:
            contact["lastInteractedAt"] = happened_at
        contact["updatedAt"] = now
        self.state.put("contacts", contact)
        return 201, activity


if __name__ == "__main__":
    sys.exit(mock_common.main(Glu))
