-- federate registry schema at alembic revision 0005 (mysql)

CREATE TABLE jobs (
	id VARCHAR(32) NOT NULL,
	name VARCHAR(256) NOT NULL,
	params TEXT NOT NULL,
	status VARCHAR(16) NOT NULL,
	timeout_ms BIGINT(20),
	max_retries INTEGER(11) NOT NULL,
	retry_count INTEGER(11) NOT NULL,
	not_before BIGINT(20) NOT NULL,
	lease_owner VARCHAR(64),
	lease_expires BIGINT(20),
	started_time BIGINT(20),
	result TEXT,
	error TEXT,
	bytes_done BIGINT(20) NOT NULL,
	bytes_total BIGINT(20) NOT NULL,
	files_done INTEGER(11) NOT NULL,
	files_total INTEGER(11) NOT NULL,
	creation_time BIGINT(20) NOT NULL,
	last_updated_time BIGINT(20) NOT NULL,
	PRIMARY KEY (id)
)ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci;

CREATE INDEX ix_jobs_name_creation_time ON jobs (name, creation_time);

CREATE INDEX ix_jobs_status_not_before_creation_time ON jobs (status, not_before, creation_time);

CREATE TABLE model_version_tags (
	model_version_id INTEGER(11) NOT NULL,
	`key` VARCHAR(250) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	value TEXT,
	PRIMARY KEY (model_version_id, `key`),
	CONSTRAINT fk_model_version_tags_model_version_id FOREIGN KEY(model_version_id) REFERENCES model_versions (id) ON DELETE CASCADE
)ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci;

CREATE TABLE model_versions (
	id INTEGER(11) NOT NULL AUTO_INCREMENT,
	registered_model_id INTEGER(11) NOT NULL,
	version INTEGER(11) NOT NULL,
	creation_time BIGINT(20) NOT NULL,
	last_updated_time BIGINT(20) NOT NULL,
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
	PRIMARY KEY (id),
	CONSTRAINT fk_model_versions_registered_model_id FOREIGN KEY(registered_model_id) REFERENCES registered_models (id) ON DELETE CASCADE
)ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci;

CREATE INDEX ix_model_versions_model_id ON model_versions (model_id);

CREATE INDEX ix_model_versions_registered_model_id_current_stage_version ON model_versions (registered_model_id, current_stage, version);

CREATE INDEX ix_model_versions_registered_model_id_status_version ON model_versions (registered_model_id, status, version);

CREATE UNIQUE INDEX uq_model_versions_registered_model_id_version ON model_versions (registered_model_id, version);

CREATE TABLE registered_model_aliases (
	registered_model_id INTEGER(11) NOT NULL,
	alias VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	model_version_id INTEGER(11) NOT NULL,
	PRIMARY KEY (registered_model_id, alias),
	CONSTRAINT fk_registered_model_aliases_model_version_id FOREIGN KEY(model_version_id) REFERENCES model_versions (id) ON DELETE CASCADE,
	CONSTRAINT fk_registered_model_aliases_registered_model_id FOREIGN KEY(registered_model_id) REFERENCES registered_models (id) ON DELETE CASCADE
)ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci;

CREATE INDEX ix_registered_model_aliases_model_version_id ON registered_model_aliases (model_version_id);

CREATE TABLE registered_model_tags (
	registered_model_id INTEGER(11) NOT NULL,
	`key` VARCHAR(250) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	value TEXT,
	PRIMARY KEY (registered_model_id, `key`),
	CONSTRAINT fk_registered_model_tags_registered_model_id FOREIGN KEY(registered_model_id) REFERENCES registered_models (id) ON DELETE CASCADE
)ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci;

CREATE TABLE registered_models (
	id INTEGER(11) NOT NULL AUTO_INCREMENT,
	name VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	kind VARCHAR(16) NOT NULL,
	description TEXT,
	creation_time BIGINT(20) NOT NULL,
	last_updated_time BIGINT(20) NOT NULL,
	next_version INTEGER(11) NOT NULL,
	PRIMARY KEY (id)
)ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci;

CREATE UNIQUE INDEX uq_registered_models_name ON registered_models (name);

CREATE TABLE uc_catalogs (
	id INTEGER(11) NOT NULL AUTO_INCREMENT,
	name VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	uuid VARCHAR(36) NOT NULL,
	comment TEXT,
	creation_time BIGINT(20) NOT NULL,
	last_updated_time BIGINT(20) NOT NULL,
	storage_root TEXT,
	PRIMARY KEY (id)
)ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci;

CREATE UNIQUE INDEX uq_uc_catalogs_name ON uc_catalogs (name);

CREATE TABLE uc_schemas (
	id INTEGER(11) NOT NULL AUTO_INCREMENT,
	catalog_id INTEGER(11) NOT NULL,
	name VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	uuid VARCHAR(36) NOT NULL,
	comment TEXT,
	creation_time BIGINT(20) NOT NULL,
	last_updated_time BIGINT(20) NOT NULL,
	storage_root TEXT,
	PRIMARY KEY (id),
	CONSTRAINT fk_uc_schemas_catalog_id FOREIGN KEY(catalog_id) REFERENCES uc_catalogs (id) ON DELETE CASCADE
)ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci;

CREATE UNIQUE INDEX uq_uc_schemas_catalog_id_name ON uc_schemas (catalog_id, name);

CREATE TABLE webhook_events (
	webhook_id VARCHAR(32) NOT NULL,
	event VARCHAR(64) NOT NULL,
	PRIMARY KEY (webhook_id, event),
	CONSTRAINT fk_webhook_events_webhook_id FOREIGN KEY(webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE
)ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci;

CREATE INDEX ix_webhook_events_event ON webhook_events (event);

CREATE TABLE webhooks (
	id VARCHAR(32) NOT NULL,
	name VARCHAR(256) NOT NULL,
	description TEXT,
	url TEXT NOT NULL,
	secret TEXT,
	status VARCHAR(20) NOT NULL,
	creation_time BIGINT(20) NOT NULL,
	last_updated_time BIGINT(20) NOT NULL,
	PRIMARY KEY (id)
)ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci;
