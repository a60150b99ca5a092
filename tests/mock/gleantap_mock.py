#!/usr/bin/env python3
"""Mock of the Gleantap API over HTTPS, for tillsync's integration tests.

Stands in for https://api.gleantap.com as described by shared/seeds/gleantap-create-or-update-
contact.txt and shared/seeds/gleantap-create-an-event.txt, and the contract's Gleantap section.
Python standard library only.

    gleantap_mock.py --port PORT --cert CERT.pem --key KEY.pem --api-key-file FILE
                     --secret-key-file FILE --app-id APP_ID
                     [--state STATE.json] [--host 127.0.0.1] [--port-file F] [--verbose]

API: headers X-API-KEY and X-SECRET-KEY both required and both checked, else 401. Every body
must be a JSON object sent as application/json (415 otherwise, 400 if it does not parse). Every
body must carry "app_id": missing or not a string is a 400 like any required field; a string other
than --app-id is a 401, because the app id is the third part of the credentials (the keys belong
to one app) and a client can only fix it by changing its configuration, as with a wrong key.

    POST /v2/ExternalApi/newContact   create or update a contact; answers 200
        {"status": "success", "_id": "<24 hex>"}. Required: app_id, first_name and last_name
        (non-empty strings), and email (valid-looking) or phone, unless user_id names an existing
        contact. An existing contact is updated when user_id is its _id (an unknown user_id is a
        400), else when email (case-insensitive) and first_name are both the same, else when
        phone and first_name are; otherwise a new contact is made (so the same email with
        another first name is another contact, as the seed says). Documented optional fields are
        type-checked (dob YYYY-MM-DD, created_date YYYY-MM-DD HH:MM:SS, optin_sms/optout_email
        booleans, tag_action add/remove, the rest strings); any other field is a custom attribute
        and is stored if it is a string, number, boolean or null.
    POST /v2/ExternalApi/newEvent     record an event; answers 200 {"result": "success"}.
        Required: app_id, user_id (the _id of an existing contact), event_type (non-empty string),
        event_date (YYYY-MM-DD, a real date), id (non-empty string). Optional: _id, email,
        phone, event_name (strings), event_time ("HH:MM AM/PM" as the seed's text says, or
        "HH:MM:SS" as its example does; stored as given), is_visit/is_purchase (booleans),
        event_data (an object, or an array of objects as the seed's type says). Unknown fields
        are refused. One event per id: a resend with an id already stored answers success,
        stores nothing and is logged with "duplicate": true.
Errors are JSON {"status": "error", "message": "<field> <reason>"}: 400 validation (the seed
documents only 200 and 400), 401 keys/app_id, 404, 405, 413, 415.

Test control, faults and --state are mock_common's (see its docstring): GET /_mock/requests,
/_mock/contacts, /_mock/events; /_mock/fault; POST /_mock/reset. "reset_after_record" drops the
answer of successful POST /v2/ExternalApi/newEvent (a duplicate included).
"""

import datetime
import re
import sys

import mock_common
from mock_common import ApiError, now_iso, read_secret, secret_matches, shown

CONTACT_STRINGS = ("first_name", "last_name", "email", "phone", "address", "city", "state", "zip",
                   "source", "user_id", "gender", "type", "status", "location", "tags",
                   "tag_action")
CONTACT_BOOLEANS = ("optin_sms", "optout_email")
EVENT_FIELDS = {"app_id", "_id", "user_id", "email", "phone", "event_type", "event_name",
                "event_date", "event_time", "id", "is_visit", "is_purchase", "event_data"}
TIME_12H = re.compile(r"(0[1-9]|1[0-2]):[0-5]\d (AM|PM)")
TIME_24H = re.compile(r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# 24 hex characters like Gleantap's (MongoDB) ids.
CONTACT_ID_PREFIX = "64c0"


def fail(message):
    raise ApiError(400, message)


def is_date(text):
    if not isinstance(text, str) or not DATE.fullmatch(text):
        return False
    try:
        datetime.date.fromisoformat(text)
        return True
    except ValueError:  # e.g. 2026-02-30
        return False


def is_datetime(text):
    try:
        datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
        return len(text) == 19  # strptime accepts unpadded fields
    except (TypeError, ValueError):
        return False


def required_string(body, field):
    value = body.get(field)
    if value is None:
        fail(f"{field} is required")
    if not isinstance(value, str) or not value.strip():
        fail(f"{field} must be a non-empty string")
    return value


def optional_string(body, field):
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        fail(f"{field} must be a string")
    return value or None  # an empty string is "not given"


def check_email(body):
    email = optional_string(body, "email")
    # The address itself is not quoted back: error messages end up in the client's logs.
    if email is not None and not mock_common.EMAIL.fullmatch(email):
        fail("email is not a valid email address")
    return email


class Gleantap(mock_common.Platform):
    NAME = "gleantap_mock"
    DESCRIPTION = "Mock of the Gleantap API over HTTPS."
    COLLECTIONS = {"contacts": "_id", "events": "id"}  # an event is known by the client's id
    ROUTES = [
        ("POST", r"/v2/ExternalApi/newContact", "new_contact"),
        ("POST", r"/v2/ExternalApi/newEvent", "new_event"),
    ]
    RECORD = ("POST", r"/v2/ExternalApi/newEvent")
    FAULT_422_MESSAGE = "event_data mock fault: rejected"

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--api-key-file", required=True, help="expected X-API-KEY")
        parser.add_argument("--secret-key-file", required=True, help="expected X-SECRET-KEY")
        parser.add_argument("--app-id", required=True, help="the app_id every body must carry")

    def __init__(self, args):
        super().__init__(args)
        self.api_key = read_secret(args.api_key_file)
        self.secret_key = read_secret(args.secret_key_file)
        self.app_id = args.app_id

    def auth(self, req):
        states = [(name, secret_matches(req.header(name), expected))
                  for name, expected in (("X-API-KEY", self.api_key),
                                         ("X-SECRET-KEY", self.secret_key))]
        for worst in ("missing", "invalid"):
            for name, state in states:
                if state == worst:
                    return state, f"{name} is {state}"
        return "ok", None

    def error_body(self, status, message):
        return {"status": "error", "message": message}

    def clear(self):
        self.contacts = self.state.tables["contacts"]
        self.events = self.state.tables["events"]
        self.next_contact = 1

    def indexed(self, table, obj):
        if table == "contacts":
            number = int(obj["_id"][len(CONTACT_ID_PREFIX):], 16)
            self.next_contact = max(self.next_contact, number + 1)

    def check_app_id(self, body):
        if required_string(body, "app_id") != self.app_id:
            raise ApiError(401, "app_id does not belong to these keys")

    # --- contacts -------------------------------------------------------------------------

    def new_contact(self, req):
        body = req.json()
        self.check_app_id(body)
        if "_id" in body:  # it would name the contact to change; user_id is the documented way
            fail("_id is not a contact field: use user_id to update a contact")
        first_name = required_string(body, "first_name")
        required_string(body, "last_name")
        for field in CONTACT_STRINGS:
            optional_string(body, field)
        email, phone = check_email(body), optional_string(body, "phone")
        for field in CONTACT_BOOLEANS:
            if field in body and not isinstance(body[field], bool):
                fail(f"{field} must be a boolean")
        if body.get("dob") is not None and not is_date(body["dob"]):
            fail(f"dob must be a date in YYYY-MM-DD format, got {shown(body['dob'])}")
        if body.get("created_date") is not None and not is_datetime(body["created_date"]):
            fail("created_date must be YYYY-MM-DD HH:MM:SS, got " + shown(body["created_date"]))
        if body.get("tag_action") and body["tag_action"] not in ("add", "remove"):
            fail("tag_action must be 'add' or 'remove'")
        for field, value in body.items():
            if isinstance(value, (dict, list)):
                fail(f"{field} must be a string, number, boolean or null")

        user_id = body.get("user_id") or None
        if user_id is not None:
            contact = self.contacts.get(user_id)
            if contact is None:
                fail("user_id does not name an existing contact")
        elif email is None and phone is None:
            fail("email or phone is required")
        else:
            contact = self.find(email, phone, first_name)

        now = now_iso()
        if contact is None:
            contact = {"_id": "%s%020x" % (CONTACT_ID_PREFIX, self.next_contact),
                       "created_at": now}
        # Empty strings and nulls are "not given": they neither identify nor erase.
        contact.update({k: v for k, v in body.items()
                        if k not in ("app_id", "user_id") and v not in ("", None)})
        contact["updated_at"] = now
        self.state.put("contacts", contact)
        return 200, {"status": "success", "_id": contact["_id"]}

    def find(self, email, phone, first_name):
        for contact in self.contacts.values():
            if contact.get("first_name") != first_name:
                continue
            if email is not None and (contact.get("email") or "").lower() == email.lower():
                return contact
        if phone is not None:
            for contact in self.contacts.values():
                if contact.get("first_name") == first_name and contact.get("phone") == phone:
                    return contact
        return None

    # --- events ---------------------------------------------------------------------------

    def new_event(self, req):
        body = req.json()
        self.check_app_id(body)
        unknown = sorted(set(body) - EVENT_FIELDS)
        if unknown:
            fail(f"{unknown[0]} is not a known field")
        user_id = required_string(body, "user_id")
        if user_id not in self.contacts:
            fail("user_id does not name an existing contact")
        required_string(body, "event_type")
        if body.get("event_date") is None:
            fail("event_date is required")
        if not is_date(body["event_date"]):
            fail(f"event_date must be a date in YYYY-MM-DD format, got {shown(body['event_date'])}")
        event_id = required_string(body, "id")
        for field in ("_id", "phone", "event_name"):
            optional_string(body, field)
        check_email(body)
        time_of_day = body.get("event_time")
        if time_of_day is not None and not (isinstance(time_of_day, str) and (
                TIME_12H.fullmatch(time_of_day) or TIME_24H.fullmatch(time_of_day))):
            fail(f"event_time must be HH:MM AM/PM or HH:MM:SS, got {shown(time_of_day)}")
        for field in ("is_visit", "is_purchase"):
            if field in body and not isinstance(body[field], bool):
                fail(f"{field} must be a boolean")
        data = body.get("event_data")
        if data is not None and not (isinstance(data, dict) or (
                isinstance(data, list) and all(isinstance(d, dict) for d in data))):
            fail("event_data must be an object or an array of objects")

        if event_id in self.events:
            req.note(duplicate=True)  # the platform keeps one event per id: the first one
            return 200, {"result": "success"}
        event = {k: v for k, v in body.items() if k != "app_id"}
        event["received_at"] = now_iso()
        self.state.put("events", event)
        return 200, {"result": "success"}


if __name__ == "__main__":
    sys.exit(mock_common.main(Gleantap))
