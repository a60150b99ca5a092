#!/usr/bin/env python3
"""Mock of the Givebutter API over HTTPS, for tillsync's integration tests.

Stands in for https://api.givebutter.com as Givebutter's API reference describes it
(docs.givebutter.com/api-reference: contacts, contact activities, pagination, errors; the seed
shared/seeds/givebutter-create-contact-activity.txt) and the contract's Givebutter section.
Python standard library only.

    givebutter_mock.py --port PORT --cert CERT.pem --key KEY.pem --api-key-file FILE
                       [--state STATE.json] [--host 127.0.0.1] [--port-file F] [--verbose]

Authentication: "Authorization: Bearer <key>" on every request, else 401
{"message": "Unauthenticated."}. Bodies must be JSON objects sent as application/json.

    GET  /v1/contacts                 paginated ContactResource list, lowest id first. Filter
        `email` (any of the contact's emails, case-insensitive); `page` (default 1; not a
        positive integer: 1, as Laravel's paginator does) and `per_page` (default 20, at most
        100). Other query parameters are ignored, as Laravel ignores them: there is no phone
        filter, so ?phone=... lists every contact.
    POST /v1/contacts                 create a contact; answers 200 with the ContactResource.
        type "individual" (default) needs first_name and last_name, "company" company_name
        (non-empty strings of at most 255 characters); emails/phones are arrays of strings,
        primary_email/primary_phone strings, force_create a boolean. Merge rule: an individual
        with the same first and last name (case-insensitive) and one of the same emails
        (case-insensitive) or phones is answered instead, the new emails/phones added to it, and
        the request is logged with "merged": true; force_create: true always makes a new one.
        Fields the reference does not document are refused (422), to catch a client's typo.
    GET  /v1/contacts/{contact}       the ContactResource, or 404.
    GET  /v1/contacts/{contact}/activities   paginated ContactActivityResource list of that
        contact, oldest first (the order is not documented: oldest first is the look-up's worst
        case); filter `type` (ContactActivityTypeEnum, else 422); 404 for an unknown contact.
    POST /v1/contacts/{contact}/activities   create an activity; answers 200 with the
        ContactActivityResource. type required, one of email, meeting, note, phone_call, sms,
        completed_task, volunteer_activity; note string|null; subject string|null of at most 255
        characters; occurred_at an ISO 8601 date-time|null; timezone string|null of at most 255
        characters; anything else refused. The request is logged with "created_activity": <id>.
    GET  /v1/contacts/{contact}/activities/{activity}   the activity, or 404.

Resources: ids are JSON integers for contacts and strings of digits for activities (the
reference types resource ids as strings and path ids as integers: a client must take both). The
activity resource has id, type, source ("api"), data, resource (null), resource_type (null),
occurred_at, created_at, updated_at, created_by and no subject or note: the reference echoes
neither, and `data` is the only free text it documents, so the mock puts there the JSON text of
{"subject": ..., "note": ...}. /_mock/activities shows the stored activities with contact_id,
subject, note and timezone besides.

Pagination is Laravel's: {"data": [...], "links": {"first", "last", "prev", "next"}, "meta":
{"current_page", "from", "last_page", "links", "path", "per_page", "to", "total"}}, links as
absolute URLs on the Host the request was sent to.

Errors: {"message": "..."} (401, 403, 404, 405, 413, 415, 400 for a body that is not JSON);
validation 422 in Laravel's shape {"message": "...", "errors": {"<field>": ["..."]}}.

Test control, faults and --state are mock_common's (see its docstring): GET /_mock/requests,
/_mock/contacts, /_mock/activities; /_mock/fault; POST /_mock/reset. "reset_after_record" drops the
answer of a successful POST /v1/contacts/{contact}/activities after the activity is stored.
"""

import datetime
import json
import math
import sys
from urllib.parse import urlencode

import mock_common
from mock_common import ApiError, now_iso, read_secret, secret_matches

ACTIVITY_TYPES_STORE = ("email", "meeting", "note", "phone_call", "sms", "completed_task",
                        "volunteer_activity")
# ContactActivityTypeEnum: what the list's `type` filter takes.
ACTIVITY_TYPES = ACTIVITY_TYPES_STORE + (
    "archived", "campaign.joined", "email.subscribed", "email.unsubscribed", "letter",
    "recurring_plan.canceled", "recurring_plan.created", "recurring_plan.activated",
    "signup_form.submitted", "sms.subscribed", "sms.unsubscribed", "subscription_form.submitted",
    "created_task", "ticket.issued", "transaction.recieved", "transaction.succeeded",
    "transaction.acknowledged", "transaction.unacknowledged", "unarchived", "soft_credited",
    "tagged", "untagged", "custom_field.updated", "video_message.sent", "video_message.deleted")
ACTIVITY_FIELDS = {"type", "note", "subject", "occurred_at", "timezone"}
# StoreContactRequest's fields (and force_create), as the reference lists them.
CONTACT_STRINGS_255 = ("first_name", "last_name", "middle_name", "preferred_name", "company_name",
                       "external_id", "pronouns", "address_1", "address_2", "city", "state",
                       "zipcode", "primary_address_1", "primary_address_2", "primary_city",
                       "primary_state", "primary_zipcode", "employer", "company", "title")
CONTACT_STRINGS = CONTACT_STRINGS_255 + (
    "primary_email", "primary_phone", "contact_since", "gender", "suffix", "prefix", "country",
    "primary_country", "dob", "twitter_url", "linkedin_url", "facebook_url", "tiktok_url",
    "instagram_url", "note")
CONTACT_FIELDS = set(CONTACT_STRINGS) | {"type", "emails", "phones", "email_subscription",
                                         "phone_subscription", "address_subscription",
                                         "custom_fields", "tags", "force_create"}
USER = {"id": "1", "first_name": "API", "last_name": "Key", "email": "api@givebutter.example"}


def invalid(field, message):
    raise ApiError(422, f"{field}: {message}",
                   payload={"message": message, "errors": {field: [message]}})


def label(field):
    return field.replace("_", " ")


def optional_string(body, field, max_chars=None):
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        invalid(field, f"The {label(field)} field must be a string.")
    if max_chars is not None and len(value) > max_chars:
        invalid(field, f"The {label(field)} field must not be greater than {max_chars} "
                       "characters.")
    return value


def string_list(body, field, check=None):
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        invalid(field, f"The {label(field)} field must be an array.")
    for i, item in enumerate(value):
        if not isinstance(item, str) or (check and not check(item)):
            invalid(f"{field}.{i}", f"The {field}.{i} field must be a valid "
                                    f"{'email address' if check else 'string'}.")
    return value


def is_datetime(text):
    try:
        datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        return "T" in text or " " in text
    except ValueError:
        return False


def positive_int(values, default, maximum=None):
    try:
        n = int(values[0]) if values else default
    except ValueError:
        return default
    if n < 1:
        return default
    return min(n, maximum) if maximum else n


class Givebutter(mock_common.Platform):
    NAME = "givebutter_mock"
    DESCRIPTION = "Mock of the Givebutter API over HTTPS."
    COLLECTIONS = {"contacts": "id", "activities": "id"}
    ROUTES = [
        ("GET", r"/v1/contacts", "list_contacts"),
        ("POST", r"/v1/contacts", "create_contact"),
        ("GET", r"/v1/contacts/(?P<contact>\d+)", "get_contact"),
        ("GET", r"/v1/contacts/(?P<contact>\d+)/activities", "list_activities"),
        ("POST", r"/v1/contacts/(?P<contact>\d+)/activities", "create_activity"),
        ("GET", r"/v1/contacts/(?P<contact>\d+)/activities/(?P<activity>\d+)", "get_activity"),
    ]
    RECORD = ("POST", r"/v1/contacts/\d+/activities")
    FAULT_422_MESSAGE = "note: mock fault: rejected"

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--api-key-file", required=True, help="the expected Bearer token")

    def __init__(self, args):
        super().__init__(args)
        self.api_key = read_secret(args.api_key_file)

    def auth(self, req):
        got = req.header("Authorization")
        token = got[len("Bearer "):] if got and got.startswith("Bearer ") else None
        state = secret_matches(token, self.api_key)
        if state == "missing" and got is not None:
            state = "invalid"  # a header, but not a Bearer token
        return state, "Unauthenticated."

    def error_body(self, status, message):
        if status == 422:  # the "422" fault: in Laravel's validation shape like the real ones
            field, _, why = message.partition(": ")
            return {"message": why or message, "errors": {field: [why or message]}}
        return {"message": message}

    def clear(self):
        self.contacts = self.state.tables["contacts"]
        self.activities = self.state.tables["activities"]
        self.next_contact = 1
        self.next_activity = 1

    def indexed(self, table, obj):
        if table == "contacts":
            self.next_contact = max(self.next_contact, obj["id"] + 1)
        else:
            self.next_activity = max(self.next_activity, int(obj["id"]) + 1)

    # --- pagination -----------------------------------------------------------------------

    def page(self, req, items, resource):
        per_page = positive_int(req.query.get("per_page"), 20, 100)
        last_page = max(1, math.ceil(len(items) / per_page))
        current = positive_int(req.query.get("page"), 1)
        chunk = items[(current - 1) * per_page:current * per_page]
        base = f"https://{req.header('Host') or 'api.givebutter.com'}{req.path}"

        def url(n):
            if n is None or n < 1 or n > last_page:
                return None
            query = {k: v[0] for k, v in req.query.items() if k != "page"}
            query["page"] = n
            return f"{base}?{urlencode(query)}"

        first = (current - 1) * per_page + 1
        return 200, {
            "data": [resource(o) for o in chunk],
            "links": {"first": url(1), "last": url(last_page), "prev": url(current - 1),
                      "next": url(current + 1)},
            "meta": {"current_page": current, "from": first if chunk else None,
                     "last_page": last_page,
                     "links": [{"url": url(n), "label": str(n), "active": n == current}
                               for n in range(1, last_page + 1)],
                     "path": base, "per_page": per_page,
                     "to": first + len(chunk) - 1 if chunk else None, "total": len(items)},
        }

    # --- contacts -------------------------------------------------------------------------

    def contact(self, contact_id):
        contact = self.contacts.get(int(contact_id))
        if contact is None:
            raise ApiError(404, f"No query results for model [Contact] {contact_id}")
        return contact

    @staticmethod
    def contact_resource(c):
        return dict(c, emails=[{"type": "personal", "value": e} for e in c["emails"]],
                    phones=[{"type": "cell", "value": p} for p in c["phones"]],
                    primary_email=c["emails"][0] if c["emails"] else None,
                    primary_phone=c["phones"][0] if c["phones"] else None)

    def list_contacts(self, req):
        items = sorted(self.contacts.values(), key=lambda c: c["id"])
        email = (req.query.get("email") or [""])[0]
        if email:
            items = [c for c in items if email.lower() in (e.lower() for e in c["emails"])]
        return self.page(req, items, self.contact_resource)

    def get_contact(self, req, contact):
        return 200, self.contact_resource(self.contact(contact))

    def create_contact(self, req):
        body = req.json()
        unknown = sorted(set(body) - CONTACT_FIELDS)
        if unknown:
            invalid(unknown[0], f"The {label(unknown[0])} field is not a contact field.")
        kind = body.get("type") or "individual"
        if kind not in ("individual", "company"):
            invalid("type", "The selected type is invalid.")
        for field in CONTACT_STRINGS:
            optional_string(body, field, 255 if field in CONTACT_STRINGS_255 else None)
        required = ("first_name", "last_name") if kind == "individual" else ("company_name",)
        for field in required:
            if not (body.get(field) or "").strip():
                invalid(field, f"The {label(field)} field is required.")
        emails = string_list(body, "emails", mock_common.EMAIL.fullmatch)
        if body.get("primary_email"):
            if not mock_common.EMAIL.fullmatch(body["primary_email"]):
                invalid("primary_email", "The primary email field must be a valid email address.")
            emails = [body["primary_email"]] + emails
        phones = string_list(body, "phones")
        if body.get("primary_phone"):
            phones = [body["primary_phone"]] + phones
        force = body.get("force_create", False)
        if not isinstance(force, bool):
            invalid("force_create", "The force create field must be true or false.")

        now = now_iso()
        existing = None if force or kind != "individual" else self.merge_target(body, emails,
                                                                                phones)
        if existing is not None:
            req.note(merged=True)
            contact = existing
            lower = [e.lower() for e in contact["emails"]]
            contact["emails"] += [e for e in emails if e.lower() not in lower]
            contact["phones"] += [p for p in phones if p not in contact["phones"]]
        else:
            contact = {"id": self.next_contact, "type": kind, "created_at": now}
            for field in CONTACT_STRINGS:
                if body.get(field) is not None:
                    contact[field] = body[field]
            contact["emails"], contact["phones"] = [], []
            for e in emails:
                if e.lower() not in (x.lower() for x in contact["emails"]):
                    contact["emails"].append(e)
            for p in phones:
                if p not in contact["phones"]:
                    contact["phones"].append(p)
        contact["updated_at"] = now
        self.state.put("contacts", contact)
        req.note(contact=contact["id"])
        return 200, self.contact_resource(contact)

    def merge_target(self, body, emails, phones):
        first, last = body["first_name"].lower(), body["last_name"].lower()
        emails = {e.lower() for e in emails}
        for c in sorted(self.contacts.values(), key=lambda c: c["id"]):
            if c.get("type") != "individual" or c.get("first_name", "").lower() != first \
                    or c.get("last_name", "").lower() != last:
                continue
            if emails & {e.lower() for e in c["emails"]} or set(phones) & set(c["phones"]):
                return c
        return None

    # --- activities -----------------------------------------------------------------------

    @staticmethod
    def activity_resource(a):
        return {"id": a["id"], "type": a["type"], "source": "api",
                "data": json.dumps({"subject": a["subject"], "note": a["note"]}),
                "resource": None, "resource_type": None, "occurred_at": a["occurred_at"],
                "created_at": a["created_at"], "updated_at": a["updated_at"], "created_by": USER}

    def list_activities(self, req, contact):
        cid = self.contact(contact)["id"]
        kind = (req.query.get("type") or [""])[0]
        if kind and kind not in ACTIVITY_TYPES:
            invalid("type", "The selected type is invalid.")
        items = [a for a in sorted(self.activities.values(), key=lambda a: int(a["id"]))
                 if a["contact_id"] == cid and (not kind or a["type"] == kind)]
        return self.page(req, items, self.activity_resource)

    def get_activity(self, req, contact, activity):
        cid = self.contact(contact)["id"]
        a = self.activities.get(activity)
        if a is None or a["contact_id"] != cid:
            raise ApiError(404, f"No query results for model [ContactActivity] {activity}")
        return 200, self.activity_resource(a)

    def create_activity(self, req, contact):
        cid = self.contact(contact)["id"]
        body = req.json()
        unknown = sorted(set(body) - ACTIVITY_FIELDS)
        if unknown:
            invalid(unknown[0], f"The {label(unknown[0])} field is not an activity field.")
        if body.get("type") is None:
            invalid("type", "The type field is required.")
        if body["type"] not in ACTIVITY_TYPES_STORE:
            invalid("type", "The selected type is invalid.")
        note = optional_string(body, "note")
        subject = optional_string(body, "subject", 255)
        occurred_at = optional_string(body, "occurred_at")
        if occurred_at is not None and not is_datetime(occurred_at):
            invalid("occurred_at", "The occurred at field must be a valid date.")
        timezone = optional_string(body, "timezone", 255)
        now = now_iso()
        activity = {"id": str(self.next_activity), "contact_id": cid, "type": body["type"],
                    "subject": subject, "note": note, "timezone": timezone,
                    "occurred_at": occurred_at or now, "created_at": now, "updated_at": now}
        self.state.put("activities", activity)
        req.note(created_activity=activity["id"])
        return 200, self.activity_resource(activity)


if __name__ == "__main__":
    sys.exit(mock_common.main(Givebutter))
