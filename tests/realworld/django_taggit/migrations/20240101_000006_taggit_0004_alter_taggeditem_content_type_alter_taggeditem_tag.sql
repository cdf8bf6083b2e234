-- Description: taggit migration 0004_alter_taggeditem_content_type_alter_taggeditem_tag (sqlmigrate output for SQLite)
BEGIN;
--
-- Alter field content_type on taggeditem
--
-- (no-op)
--
-- Alter field tag on taggeditem
--
-- (no-op)
COMMIT;
