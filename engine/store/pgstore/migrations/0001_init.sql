-- protorun run store, schema version 1.
--
-- A run's info and protocol bytes; the head of its hash chain (entries,
-- head_hash) and the Seq of its last entry, updated in the transaction that
-- appends.
CREATE TABLE protorun_runs (
    id           text PRIMARY KEY,
    info         text        NOT NULL, -- the RunInfo as JSON, as given to Create
    source       bytea       NOT NULL, -- the protocol's bytes as started
    started      timestamptz NOT NULL,
    created      bigserial   NOT NULL,
    head_entries integer     NOT NULL DEFAULT 0,
    head_hash    text        NOT NULL,
    last_seq     integer     NOT NULL DEFAULT 0,
    last_kind    text        NOT NULL DEFAULT ''
);
CREATE INDEX protorun_runs_started ON protorun_runs (started, created);

-- The journal. n is the entry's place (1, 2, ...); seq is the Seq the
-- writer gave it. data keeps the exact bytes the hash chain covers (not
-- jsonb, which would reorder keys); time is the entry's time as RFC 3339
-- with nanoseconds, as hashed.
CREATE TABLE protorun_entries (
    run  text    NOT NULL REFERENCES protorun_runs (id),
    n    integer NOT NULL,
    seq  integer NOT NULL,
    time text    NOT NULL,
    kind text    NOT NULL,
    data bytea,
    hash text    NOT NULL DEFAULT '',
    PRIMARY KEY (run, n)
);

-- The files each run wrote (evidence, reports), byte for byte.
CREATE TABLE protorun_files (
    run     text  NOT NULL REFERENCES protorun_runs (id),
    path    text  NOT NULL,
    content bytea NOT NULL,
    sha256  text  NOT NULL,
    PRIMARY KEY (run, path)
);

-- The run lease: one driver per run. generation grows by one with every
-- holder (it is never reset), so a holder that lost the lease can tell.
-- A row with released set has no holder.
CREATE TABLE protorun_run_leases (
    run          text        PRIMARY KEY REFERENCES protorun_runs (id),
    host         text        NOT NULL,
    pid          integer     NOT NULL,
    since        timestamptz NOT NULL,
    generation   bigint      NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    released     boolean     NOT NULL DEFAULT false
);

-- Environment leases: an environment belongs to one run until that run
-- ends. No reference to protorun_runs: a lease naming a run that does not
-- exist is free.
CREATE TABLE protorun_env_leases (
    env   text        PRIMARY KEY,
    run   text        NOT NULL,
    host  text        NOT NULL,
    pid   integer     NOT NULL,
    since timestamptz NOT NULL
);

-- Who may decide. Members of protorun_approvers may write decision entries;
-- a decision's store_identity must be the writer's own. The database
-- enforces it, not only protorun.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'protorun_approvers') THEN
        CREATE ROLE protorun_approvers NOLOGIN;
        -- Whoever creates the schema may decide until the GRANTs say otherwise
        -- (docs/operating-runs.md).
        EXECUTE format('GRANT protorun_approvers TO %I', current_user);
    END IF;
END
$$;

CREATE FUNCTION protorun_check_decision() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    payload jsonb;
    ident   jsonb;
    r       text;
BEGIN
    IF NEW.kind <> 'decision' THEN
        RETURN NEW;
    END IF;
    BEGIN
        payload := convert_from(NEW.data, 'UTF8')::jsonb;
    EXCEPTION WHEN others THEN
        payload := NULL; -- not JSON: the journal check refuses it
    END;
    -- A halt that expires is rejected by the run's driver, whoever it is.
    IF NOT pg_has_role(current_user, 'protorun_approvers', 'member')
       AND NOT (payload ->> 'via' IS NOT DISTINCT FROM 'expiry'
                AND payload -> 'approve' IS NOT DISTINCT FROM 'false'::jsonb
                AND payload -> 'store_identity' IS NULL) THEN
        RAISE EXCEPTION 'role % may not decide: it is not a member of protorun_approvers', current_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    ident := payload -> 'store_identity';
    IF ident IS NULL OR jsonb_typeof(ident) <> 'object' THEN
        RETURN NEW;
    END IF;
    IF ident ->> 'role' IS DISTINCT FROM current_user::text THEN
        RAISE EXCEPTION 'role % may not record a decision as role %', current_user, ident ->> 'role'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF jsonb_typeof(ident -> 'member_of') = 'array' THEN
        FOR r IN SELECT jsonb_array_elements_text(ident -> 'member_of') LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)
               OR NOT pg_has_role(current_user, r, 'member') THEN
                RAISE EXCEPTION 'role % may not record a decision as a member of %: it is not one', current_user, r
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END LOOP;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER protorun_check_decision
    BEFORE INSERT OR UPDATE ON protorun_entries
    FOR EACH ROW EXECUTE FUNCTION protorun_check_decision();
