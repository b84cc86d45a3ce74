"""Tables of the SQL registry, as SQLAlchemy 2 typed models.

Rows are keyed by surrogate integer ids so a rename touches one row; names are unique
and case-sensitive on every dialect (MySQL gets a binary collation). Prompts share the
model tables with ``kind = 'prompt'``, as in MLflow, so one name space covers both.

Version numbers come from ``registered_models.next_version``, which only grows: a
deleted version's number is never handed out again.
"""

from __future__ import annotations

from typing import Annotated

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


def _key(length: int) -> String:
    """A string compared byte-for-byte everywhere (MySQL's default collation ignores case)."""
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


Id = Annotated[int, mapped_column(Integer, primary_key=True, autoincrement=True)]
Millis = Annotated[int, mapped_column(BigInteger, nullable=False)]
BigCount = Annotated[int, mapped_column(BigInteger, nullable=False)]
OptText = Annotated["str | None", mapped_column(Text, nullable=True)]

MODEL = "model"
PROMPT = "prompt"


class SqlRegisteredModel(Base):
    __tablename__ = "registered_models"

    id: Mapped[Id]
    name: Mapped[str] = mapped_column(_key(256), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default=MODEL)
    description: Mapped[OptText]
    creation_time: Mapped[Millis]
    last_updated_time: Mapped[Millis]
    next_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class SqlModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("registered_model_id", "version"),
        # latest live version: WHERE registered_model_id = ? AND status = 'READY'
        # ORDER BY version DESC LIMIT 1 walks this index from its end
        Index(None, "registered_model_id", "status", "version"),
        Index(None, "registered_model_id", "current_stage", "version"),
    )

    id: Mapped[Id]
    registered_model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    creation_time: Mapped[Millis]
    last_updated_time: Mapped[Millis]
    description: Mapped[OptText]
    user_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    current_stage: Mapped[str] = mapped_column(String(20), nullable=False, default="None")
    source: Mapped[OptText]
    storage_location: Mapped[OptText]
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    run_link: Mapped[OptText]
    model_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="READY")
    status_message: Mapped[OptText]
    # prompts only
    template: Mapped[OptText]
    commit_message: Mapped[OptText]


class SqlRegisteredModelTag(Base):
    __tablename__ = "registered_model_tags"

    registered_model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(_key(250), primary_key=True)
    value: Mapped[OptText]


class SqlModelVersionTag(Base):
    __tablename__ = "model_version_tags"

    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(_key(250), primary_key=True)
    value: Mapped[OptText]


class SqlRegisteredModelAlias(Base):
    """An alias points at one version and is deleted with it (ON DELETE CASCADE)."""

    __tablename__ = "registered_model_aliases"

    registered_model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(_key(255), primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False, index=True
    )


class SqlWebhook(Base):
    """A webhook: where to POST which registry events. ``secret`` signs deliveries and is
    never handed back by the registry's API."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    description: Mapped[OptText]
    url: Mapped[str] = mapped_column(Text, nullable=False)
    secret: Mapped[OptText]
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    creation_time: Mapped[Millis]
    last_updated_time: Mapped[Millis]


class SqlWebhookEvent(Base):
    """One event a webhook subscribes to (``model_version.created``...)."""

    __tablename__ = "webhook_events"

    webhook_id: Mapped[str] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), primary_key=True
    )
    # "which webhooks want this event?" is the lookup deliveries start from
    event: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class SqlJob(Base):
    """A job of :mod:`federate.jobs`: what to run (``name``, JSON ``params``), where it
    stands (``status``), who holds it (``lease_owner`` until ``lease_expires``) and how far
    it got. Every change of ``status`` is one conditional UPDATE (see
    :mod:`federate.jobs.store`)."""

    __tablename__ = "jobs"
    __table_args__ = (
        # a claim: WHERE status = 'PENDING' AND not_before <= now ORDER BY creation_time
        Index(None, "status", "not_before", "creation_time"),
        Index(None, "name", "creation_time"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    params: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    timeout_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_retries: Mapped[int] = mapped_column(Integer, nullable=False)
    retry_count: Mapped[int] = mapped_column(Integer, nullable=False)
    not_before: Mapped[Millis]
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    started_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    result: Mapped[OptText]
    error: Mapped[OptText]
    bytes_done: Mapped[BigCount]
    bytes_total: Mapped[BigCount]
    files_done: Mapped[int] = mapped_column(Integer, nullable=False)
    files_total: Mapped[int] = mapped_column(Integer, nullable=False)
    creation_time: Mapped[Millis]
    last_updated_time: Mapped[Millis]


class SqlCatalog(Base):
    """A Unity Catalog catalog served by ``federate serve``: the first level of a model's
    ``catalog.schema.model`` name (the model rows keep the whole name)."""

    __tablename__ = "uc_catalogs"

    id: Mapped[Id]
    name: Mapped[str] = mapped_column(_key(256), nullable=False, unique=True)
    uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    comment: Mapped[OptText]
    creation_time: Mapped[Millis]
    last_updated_time: Mapped[Millis]
    #: where versions of models under it live (migration 0005); None: the registry's root
    storage_root: Mapped[OptText]


class SqlSchema(Base):
    """A schema of a catalog; deleted with it (ON DELETE CASCADE)."""

    __tablename__ = "uc_schemas"
    __table_args__ = (UniqueConstraint("catalog_id", "name"),)

    id: Mapped[Id]
    catalog_id: Mapped[int] = mapped_column(
        ForeignKey("uc_catalogs.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(_key(256), nullable=False)
    uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    comment: Mapped[OptText]
    creation_time: Mapped[Millis]
    last_updated_time: Mapped[Millis]
    #: where versions of models under it live, before its catalog's (migration 0005)
    storage_root: Mapped[OptText]
