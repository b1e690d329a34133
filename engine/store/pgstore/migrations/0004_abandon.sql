-- protorun run store, schema version 4: operators abandon.
--
-- Abandoning a run (protorun abandon) appends an end entry whose data has
-- an "abandoned" object saying who ended the run and why, and frees the
-- environments the run held. It is an operator's act, as an abort is:
-- only members of protorun_operators or protorun_approvers may write
-- such an entry, and its store_identity, when it has one, must be the
-- writer's own (its role current_user, every role in member_of one the
-- writer is a member of), as for a decision. An end entry without the
-- key (a driver ending its run) is anyone's to write, as before.
--
-- protorun reads entries with Go's encoding/json, which matches keys
-- ignoring case (folding U+017F to s and U+212A to k, the only characters
-- outside ASCII that fold to an ASCII letter) and lets a repeated key
-- overwrite or merge into an earlier one; PostgreSQL's jsonb matches keys
-- exactly and keeps only the last of a repeated key. The end entry is
-- therefore read as json (every key as written, repeats included), a key
-- counts when it matches ignoring ASCII case (the s of store_identity may
-- be any character outside ASCII), and every key that counts is checked.
-- An end entry PostgreSQL cannot read (bytes that are not UTF-8, a key
-- it cannot unescape) protorun may still read, so only an operator may
-- write one.
--
-- The decisions' checks are those of version 3, restated: CREATE OR
-- REPLACE sets the function's every attribute, so its search_path is
-- pinned here again.
CREATE OR REPLACE FUNCTION protorun_check_decision() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    payload  jsonb;
    ident    jsonb;
    r        text;
    doc      json;
    abandons boolean;
    a        record;
    i        record;
    f        record;
    roles    integer;
BEGIN
    IF NEW.kind = 'end' THEN
        BEGIN
            doc := convert_from(NEW.data, 'UTF8')::json;
            abandons := json_typeof(doc) = 'object'
                AND EXISTS (SELECT 1 FROM json_each(doc) e
                            WHERE lower(e.key COLLATE "C") = 'abandoned');
        EXCEPTION WHEN others THEN
            doc := NULL; -- not JSON here, maybe JSON to protorun
            abandons := NEW.data IS NOT NULL;
        END;
        IF NOT abandons THEN
            RETURN NEW;
        END IF;
        IF NOT pg_has_role(current_user, 'protorun_operators', 'member')
           AND NOT pg_has_role(current_user, 'protorun_approvers', 'member') THEN
            RAISE EXCEPTION 'role % may not abandon a run: it is not a member of protorun_operators or protorun_approvers', current_user
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF doc IS NULL THEN
            RETURN NEW;
        END IF;
        FOR a IN SELECT e.value FROM json_each(doc) e
                 WHERE lower(e.key COLLATE "C") = 'abandoned'
                   AND json_typeof(e.value) = 'object' LOOP
            FOR i IN SELECT e.value FROM json_each(a.value) e
                     WHERE lower(e.key COLLATE "C") ~ '^(s|[^\x01-\x7f])tore_identity$'
                       AND json_typeof(e.value) = 'object' LOOP
                roles := 0;
                FOR f IN SELECT lower(e.key COLLATE "C") AS key, e.value FROM json_each(i.value) e
                         WHERE lower(e.key COLLATE "C") ~ '^(role|member_of)$' LOOP
                    IF f.key = 'role' THEN
                        roles := roles + 1;
                        IF json_typeof(f.value) IS DISTINCT FROM 'string'
                           OR (f.value #>> '{}') IS DISTINCT FROM current_user::text THEN
                            RAISE EXCEPTION 'role % may not record an abandonment as role %', current_user, f.value #>> '{}'
                                USING ERRCODE = 'insufficient_privilege';
                        END IF;
                    ELSIF json_typeof(f.value) = 'array' THEN
                        FOR r IN SELECT json_array_elements_text(f.value) LOOP
                            IF r IS NULL
                               OR NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)
                               OR NOT pg_has_role(current_user, r, 'member') THEN
                                RAISE EXCEPTION 'role % may not record an abandonment as a member of %: it is not one', current_user, r
                                    USING ERRCODE = 'insufficient_privilege';
                            END IF;
                        END LOOP;
                    ELSIF json_typeof(f.value) <> 'null' THEN
                        RAISE EXCEPTION 'role % may not record an abandonment as a member of %: it is not a list of roles', current_user, f.value
                            USING ERRCODE = 'insufficient_privilege';
                    END IF;
                END LOOP;
                IF roles = 0 THEN
                    RAISE EXCEPTION 'role % may not record an abandonment as no role', current_user
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
            END LOOP;
        END LOOP;
        RETURN NEW;
    END IF;
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
