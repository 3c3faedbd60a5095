"""The model registry: what `model_name` (+ `provider`) resolves to. Seeded once from the shipped mapping."""

from __future__ import annotations

from shared.catalog.model_names import UnknownModel, shipped_entries
from shared.platform.clock import iso
from shared.platform.errors import NotFoundError
from shared.schemas.registry import ANY as ANY  # the wildcard provider, re-exported for the registry's readers
from shared.schemas.registry import RegistryEntry, RegistryModel
from shared.services import Services
from shared.store import Query

MODELS = "models"
META = "meta"
SEED_MARKER = "model_catalog_seeded_v1"


def entry_id(provider: str, name: str) -> str:
    return f"{provider.strip().lower()}:{name.strip().lower()}"


def seed(svc: Services) -> None:
    """Load the shipped mapping into the store the first time; admins own the registry after that."""
    if svc.extras.get("registry_seeded") or svc.store.get(META, SEED_MARKER):
        svc.extras["registry_seeded"] = True
        return
    for item in shipped_entries():
        model = RegistryModel(**item)
        doc = {**model.model_dump(), "id": entry_id(model.provider, model.name), "source": "shipped"}
        svc.store.create(MODELS, doc["id"], {**doc, "created_at": iso(svc.now())})
    svc.store.create(META, SEED_MARKER, {"at": iso(svc.now())})
    svc.extras["registry_seeded"] = True


def upsert(svc: Services, model: RegistryModel) -> RegistryEntry:
    seed(svc)
    doc = {**model.model_dump(), "id": entry_id(model.provider, model.name), "source": "admin",
           "created_at": iso(svc.now())}  # fmt: skip
    svc.store.update(MODELS, doc["id"], lambda _: doc)
    return RegistryEntry.model_validate(doc)


def remove(svc: Services, provider: str, name: str) -> None:
    seed(svc)
    key = entry_id(provider, name)
    if svc.store.get(MODELS, key) is None:
        raise NotFoundError(f"Model {name!r} of provider {provider!r} is not registered", {"id": key})
    svc.store.delete(MODELS, key)


def entries(svc: Services) -> list[RegistryEntry]:
    seed(svc)
    rows = svc.store.query(Query(MODELS, limit=5000))
    return sorted((RegistryEntry.model_validate(doc) for _, doc in rows), key=lambda e: (e.provider, e.name))


def resolve(svc: Services, model_name: str, provider: str | None) -> RegistryEntry:
    """get_hf_name: an exact provider match, else a wildcard entry; without a provider the name must be unique."""
    seed(svc)
    name = model_name.strip().lower()
    if provider:
        for key in (entry_id(provider, name), entry_id(ANY, name)):
            doc = svc.store.get(MODELS, key)
            if doc:
                return RegistryEntry.model_validate(doc)
    else:
        found = [e for e in entries(svc) if e.name.lower() == name]
        if len({e.hf_model_id for e in found}) == 1:
            return found[0]
    known = sorted({e.name for e in entries(svc) if not provider or e.provider in (provider.lower(), ANY)})
    raise UnknownModel(model_name, provider, known)


def get_hf_name(svc: Services, model_name: str, provider: str | None = None) -> str:
    return resolve(svc, model_name, provider).hf_model_id
