"""The API's CRM records: persons, organisations and deals, over services.crm (which
says who may see and change what, and links mail to deals again after a change).

Records made here belong to the caller. The API only creates: an address or a name that
a record holds already is a 409 (services.crm's docstring says why, and what the command
line does instead).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from emailsync.errors import UsageError
from emailsync.services import crm
from emailsync.store.directory import User
from emailsync.web.api.schemas import (
    DealIn,
    DealOut,
    DealPatch,
    OrganisationIn,
    OrganisationOut,
    OrganisationPatch,
    PersonIn,
    PersonOut,
    PersonPatch,
    Problem,
)
from emailsync.web.security import api_user

router = APIRouter(
    prefix="/api/v1",
    tags=["crm"],
    responses={400: Problem, 401: Problem, 404: Problem, 409: Problem, 422: Problem},
)
ApiUser = Annotated[User, Depends(api_user)]


# -- persons --------------------------------------------------------------------------


@router.get("/persons", response_model=list[PersonOut], summary="Contacts you can see")
def list_persons(request: Request, user: ApiUser) -> list[PersonOut]:
    return [PersonOut.of(p) for p in crm.list_persons(request.app.state.engine, user.id)]


@router.post("/persons", response_model=PersonOut, status_code=201, summary="Add a contact")
def add_person(request: Request, user: ApiUser, body: PersonIn) -> PersonOut:
    """The contact is yours. Mail already synced with these addresses is linked to it at
    once (and put on its deal when it has exactly one open deal)."""
    seen, _ = crm.add_person(
        request.app.state.engine,
        user.id,
        body.emails,
        body.name,
        body.organisation or "",
        owner_user_id=user.id,
        visibility=body.visibility,
    )
    return PersonOut.of(seen)


@router.get("/persons/{person_id}", response_model=PersonOut)
def get_person(request: Request, user: ApiUser, person_id: int) -> PersonOut:
    return PersonOut.of(crm.get_person(request.app.state.engine, user.id, person_id))


@router.patch("/persons/{person_id}", response_model=PersonOut, summary="Change a contact")
def update_person(request: Request, user: ApiUser, person_id: int, body: PersonPatch) -> PersonOut:
    """Anyone who can see the contact may change it; its visibility only its owner."""
    org = (body.organisation or "") if "organisation" in body.model_fields_set else None
    seen, _ = crm.update_person(
        request.app.state.engine,
        user.id,
        person_id,
        name=body.name,
        org=org,
        visibility=body.visibility,
        add_emails=body.add_emails,
    )
    return PersonOut.of(seen)


@router.delete("/persons/{person_id}", status_code=204, summary="Delete a contact")
def delete_person(request: Request, user: ApiUser, person_id: int) -> Response:
    """The mail with them stays, no longer linked to them; their deals lose their person."""
    crm.delete_person(request.app.state.engine, user.id, person_id)
    return Response(status_code=204)


# -- organisations ----------------------------------------------------------------------


@router.get("/organisations", response_model=list[OrganisationOut])
def list_organisations(request: Request, user: ApiUser) -> list[OrganisationOut]:
    orgs = crm.list_organisations(request.app.state.engine, user.id)
    return [OrganisationOut.of(o) for o in orgs]


@router.post("/organisations", response_model=OrganisationOut, status_code=201)
def add_organisation(request: Request, user: ApiUser, body: OrganisationIn) -> OrganisationOut:
    """The organisation is yours; mail from its domains (and their subdomains) is linked
    to it when no contact matches the address."""
    org = crm.add_organisation(
        request.app.state.engine,
        user.id,
        body.name,
        body.domains,
        owner_user_id=user.id,
        visibility=body.visibility,
    )
    return OrganisationOut.of(org)


@router.get("/organisations/{org_id}", response_model=OrganisationOut)
def get_organisation(request: Request, user: ApiUser, org_id: int) -> OrganisationOut:
    return OrganisationOut.of(crm.get_organisation(request.app.state.engine, user.id, org_id))


@router.patch("/organisations/{org_id}", response_model=OrganisationOut)
def update_organisation(
    request: Request, user: ApiUser, org_id: int, body: OrganisationPatch
) -> OrganisationOut:
    """Add domains, or (owner only) change who sees it. Renaming and removing domains
    are not offered: the store has no operation for them."""
    org = crm.update_organisation(
        request.app.state.engine,
        user.id,
        org_id,
        add_domains=body.add_domains,
        visibility=body.visibility,
    )
    return OrganisationOut.of(org)


@router.delete("/organisations/{org_id}", status_code=204)
def delete_organisation(request: Request, user: ApiUser, org_id: int) -> Response:
    """Its persons and deals stay, without an organisation."""
    crm.delete_organisation(request.app.state.engine, user.id, org_id)
    return Response(status_code=204)


# -- deals ----------------------------------------------------------------------------


@router.get("/deals", response_model=list[DealOut], summary="Deals you can see")
def list_deals(request: Request, user: ApiUser) -> list[DealOut]:
    return [DealOut.of(d) for d in crm.list_deals(request.app.state.engine, user.id)]


@router.post("/deals", response_model=DealOut, status_code=201, summary="Add a deal")
def add_deal(request: Request, user: ApiUser, body: DealIn) -> DealOut:
    """The deal is yours. When it is its person's only open deal, their threads without a
    deal are put on it, the mail already synced included."""
    deal, _ = crm.add_deal(
        request.app.state.engine,
        user.id,
        body.title,
        value=body.value,
        currency=body.currency.upper(),
        status=body.status,
        person_id=body.person_id,
        organisation_id=body.organisation_id,
        owner_user_id=user.id,
        visibility=body.visibility,
    )
    return DealOut.of(deal)


@router.get("/deals/{deal_id}", response_model=DealOut)
def get_deal(request: Request, user: ApiUser, deal_id: int) -> DealOut:
    return DealOut.of(crm.get_deal(request.app.state.engine, user.id, deal_id))


@router.patch("/deals/{deal_id}", response_model=DealOut, summary="Change a deal")
def update_deal(request: Request, user: ApiUser, deal_id: int, body: DealPatch) -> DealOut:
    """Anyone who can see the deal may change it; its visibility only its owner. A
    thread stays on a deal once put there; mail after it is won or lost is not counted."""
    engine = request.app.state.engine
    crm.get_deal(engine, user.id, deal_id)  # 404 before the body's faults
    for name in ("title", "person_id", "organisation_id", "status"):
        if name in body.model_fields_set and getattr(body, name) is None:
            raise UsageError(f"A deal's {name} cannot be removed, only changed")
    deal, _ = crm.update_deal(
        engine,
        user.id,
        deal_id,
        title=body.title,
        value=body.value,
        currency=body.currency.upper() if body.currency else None,
        status=body.status,
        person_id=body.person_id,
        organisation_id=body.organisation_id,
        visibility=body.visibility,
    )
    return DealOut.of(deal)


@router.delete("/deals/{deal_id}", status_code=204, summary="Delete a deal")
def delete_deal(request: Request, user: ApiUser, deal_id: int) -> Response:
    """Its threads lose the deal, and may go on their person's only other open deal."""
    crm.delete_deal(request.app.state.engine, user.id, deal_id)
    return Response(status_code=204)
