-- protorun run store, schema version 3.
--
-- The decision trigger runs with the writer's search_path unless it sets
-- its own: a role that may not decide but may create functions in some
-- schema (its own, or public before PostgreSQL 15) could put a
-- pg_has_role of its own ahead of the catalog's and have its decisions
-- pass as an approver's. The trigger now resolves every name in the
-- catalog only.
ALTER FUNCTION protorun_check_decision() SET search_path = pg_catalog, pg_temp;
