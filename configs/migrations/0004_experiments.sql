-- Online experiments (docs/experiments.md): at most one running per domain, and the evidence a promotion
-- on online figures was decided on.

CREATE TABLE experiments (
    id               text PRIMARY KEY,
    domain           text NOT NULL CHECK (domain IN ('movies', 'polls')),
    -- 'production', 'popular' or 'model:<version>' (ExperimentArm).
    control          text NOT NULL,
    challenger       text NOT NULL,
    challenger_share double precision NOT NULL CHECK (challenger_share > 0 AND challenger_share < 1),
    started_at       timestamptz NOT NULL,
    stopped_at       timestamptz,
    -- What `trainer promote --online` decided, with its counts, rates and p-value.
    decision         jsonb
);

CREATE UNIQUE INDEX experiments_one_running ON experiments (domain) WHERE stopped_at IS NULL;

-- The online evidence of a promotion decided by `trainer promote --online`.
ALTER TABLE model_registry ADD COLUMN promotion_evidence jsonb;
