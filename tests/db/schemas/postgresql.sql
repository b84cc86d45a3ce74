-- federate registry schema at alembic revision 0005 (postgresql)

CREATE TABLE jobs (
	id VARCHAR(32) NOT NULL,
	name VARCHAR(256) NOT NULL,
	params TEXT NOT NULL,
	status VARCHAR(16) NOT NULL,
	timeout_ms BIGINT,
	max_retries INTEGER NOT NULL,
	retry_count INTEGER NOT NULL,
	not_before BIGINT NOT NULL,
	lease_owner VARCHAR(64),
	lease_expires BIGINT,
	started_time BIGINT,
	result TEXT,
	error TEXT,
	bytes_done BIGINT NOT NULL,
	bytes_total BIGINT NOT NULL,
	files_done INTEGER NOT NULL,
	files_total INTEGER NOT NULL,
	creation_time BIGINT NOT NULL,
	last_updated_time BIGINT NOT NULL,
	CONSTRAINT pk_jobs PRIMARY KEY (id)
);

CREATE INDEX ix_jobs_name_creation_time ON jobs (name, creation_time);

CREATE INDEX ix_jobs_status_not_before_creation_time ON jobs (status, not_before, creation_time);

CREATE TABLE model_version_tags (
	model_version_id INTEGER NOT NULL,
	key VARCHAR(250) NOT NULL,
	value TEXT,
	CONSTRAINT pk_model_version_tags PRIMARY KEY (model_version_id, key),
	CONSTRAINT fk_model_version_tags_model_version_id FOREIGN KEY(model_version_id) REFERENCES model_versions (id) ON DELETE CASCADE
);

CREATE TABLE model_versions (
	id SERIAL NOT NULL,
	registered_model_id INTEGER NOT NULL,
	version INTEGER NOT NULL,
	creation_time BIGINT NOT NULL,
	last_updated_time BIGINT NOT NULL,
	description TEXT,
	user_id VARCHAR(256),
	current_stage VARCHAR(20) NOT NULL,
	source TEXT,
	storage_location TEXT,
	run_id VARCHAR(64),
	run_link TEXT,
	model_id VARCHAR(64),
	status VARCHAR(32) NOT NULL,
	status_message TEXT,
	template TEXT,
	commit_message TEXT,
	CONSTRAINT pk_model_versions PRIMARY KEY (id),
	CONSTRAINT fk_model_versions_registered_model_id FOREIGN KEY(registered_model_id) REFERENCES registered_models (id) ON DELETE CASCADE,
	CONSTRAINT uq_model_versions_registered_model_id_version UNIQUE NULLS DISTINCT (registered_model_id, version)
);

CREATE INDEX ix_model_versions_model_id ON model_versions (model_id);

CREATE INDEX ix_model_versions_registered_model_id_current_stage_version ON model_versions (registered_model_id, current_stage, version);

CREATE INDEX ix_model_versions_registered_model_id_status_version ON model_versions (registered_model_id, status, version);

CREATE TABLE registered_model_aliases (
	registered_model_id INTEGER NOT NULL,
	alias VARCHAR(255) NOT NULL,
	model_version_id INTEGER NOT NULL,
	CONSTRAINT pk_registered_model_aliases PRIMARY KEY (registered_model_id, alias),
	CONSTRAINT fk_registered_model_aliases_model_version_id FOREIGN KEY(model_version_id) REFERENCES model_versions (id) ON DELETE CASCADE,
	CONSTRAINT fk_registered_model_aliases_registered_model_id FOREIGN KEY(registered_model_id) REFERENCES registered_models (id) ON DELETE CASCADE
);

CREATE INDEX ix_registered_model_aliases_model_version_id ON registered_model_aliases (model_version_id);

CREATE TABLE registered_model_tags (
	registered_model_id INTEGER NOT NULL,
	key VARCHAR(250) NOT NULL,
	value TEXT,
	CONSTRAINT pk_registered_model_tags PRIMARY KEY (registered_model_id, key),
	CONSTRAINT fk_registered_model_tags_registered_model_id FOREIGN KEY(registered_model_id) REFERENCES registered_models (id) ON DELETE CASCADE
);

CREATE TABLE registered_models (
	id SERIAL NOT NULL,
	name VARCHAR(256) NOT NULL,
	kind VARCHAR(16) NOT NULL,
	description TEXT,
	creation_time BIGINT NOT NULL,
	last_updated_time BIGINT NOT NULL,
	next_version INTEGER NOT NULL,
	CONSTRAINT pk_registered_models PRIMARY KEY (id),
	CONSTRAINT uq_registered_models_name UNIQUE NULLS DISTINCT (name)
);

CREATE TABLE uc_catalogs (
	id SERIAL NOT NULL,
	name VARCHAR(256) NOT NULL,
	uuid VARCHAR(36) NOT NULL,
	comment TEXT,
	creation_time BIGINT NOT NULL,
	last_updated_time BIGINT NOT NULL,
	storage_root TEXT,
	CONSTRAINT pk_uc_catalogs PRIMARY KEY (id),
	CONSTRAINT uq_uc_catalogs_name UNIQUE NULLS DISTINCT (name)
);

CREATE TABLE uc_schemas (
	id SERIAL NOT NULL,
	catalog_id INTEGER NOT NULL,
	name VARCHAR(256) NOT NULL,
	uuid VARCHAR(36) NOT NULL,
	comment TEXT,
	creation_time BIGINT NOT NULL,
	last_updated_time BIGINT NOT NULL,
	storage_root TEXT,
	CONSTRAINT pk_uc_schemas PRIMARY KEY (id),
	CONSTRAINT fk_uc_schemas_catalog_id FOREIGN KEY(catalog_id) REFERENCES uc_catalogs (id) ON DELETE CASCADE,
	CONSTRAINT uq_uc_schemas_catalog_id_name UNIQUE NULLS DISTINCT (catalog_id, name)
);

CREATE TABLE webhook_events (
	webhook_id VARCHAR(32) NOT NULL,
	event VARCHAR(64) NOT NULL,
	CONSTRAINT pk_webhook_events PRIMARY KEY (webhook_id, event),
	CONSTRAINT fk_webhook_events_webhook_id FOREIGN KEY(webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE
);

CREATE INDEX ix_webhook_events_event ON webhook_events (event);

CREATE TABLE webhooks (
	id VARCHAR(32) NOT NULL,
	name VARCHAR(256) NOT NULL,
	description TEXT,
	url TEXT NOT NULL,
	secret TEXT,
	status VARCHAR(20) NOT NULL,
	creation_time BIGINT NOT NULL,
	last_updated_time BIGINT NOT NULL,
	CONSTRAINT pk_webhooks PRIMARY KEY (id)
);
