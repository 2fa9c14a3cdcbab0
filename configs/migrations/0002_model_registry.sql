-- The model registry: every artifact the trainer wrote, and which one serves each domain.

CREATE TABLE model_registry (
    version          text PRIMARY KEY,
    domain           text NOT NULL CHECK (domain IN ('movies', 'polls')),
    kind             text NOT NULL,
    path             text NOT NULL,
    sha256           text NOT NULL,
    -- Validation metrics of the model and of popularity on the same split, e.g. {"ndcg@10": 0.38, ...}.
    metrics          jsonb NOT NULL,
    status           text NOT NULL CHECK (status IN ('candidate', 'production', 'archived')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    promoted_at      timestamptz,
    archived_at      timestamptz,
    -- The production version this one replaced when promoted: what a rollback restores.
    replaced_version text
);

-- At most one production model per domain, enforced by the database.
CREATE UNIQUE INDEX model_registry_one_production ON model_registry (domain) WHERE status = 'production';
CREATE INDEX model_registry_domain_created ON model_registry (domain, created_at);
