-- protorun run store, schema version 2: operators may abort.
--
-- Members of protorun_operators may write abort decisions (via "abort",
-- approve false) and no other decision: an on-call engineer stops a run
-- without the right to approve one. Members of protorun_approvers may
-- write any decision, as before. The role is the cluster's: another
-- database's migration may have created it, or be creating it now.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'protorun_operators') THEN
        CREATE ROLE protorun_operators NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- created meanwhile by a migration of another database
END
$$;

CREATE OR REPLACE FUNCTION protorun_check_decision() RETURNS trigger
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
    IF NOT pg_has_role(current_user, 'protorun_approvers', 'member')
       -- A halt that expires is rejected by the run's driver, whoever it is.
       AND NOT (payload ->> 'via' IS NOT DISTINCT FROM 'expiry'
                AND payload -> 'approve' IS NOT DISTINCT FROM 'false'::jsonb
                AND payload -> 'store_identity' IS NULL)
       -- An operator aborts, and does nothing else of the kind.
       AND NOT (pg_has_role(current_user, 'protorun_operators', 'member')
                AND payload ->> 'via' IS NOT DISTINCT FROM 'abort'
                AND payload -> 'approve' IS NOT DISTINCT FROM 'false'::jsonb) THEN
        IF pg_has_role(current_user, 'protorun_operators', 'member') THEN
            RAISE EXCEPTION 'role % may not decide: it is not a member of protorun_approvers (as a member of protorun_operators it may only abort)', current_user
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RAISE EXCEPTION 'role % may not decide: it is not a member of protorun_approvers or, to abort, of protorun_operators', current_user
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
