-- Description: taggit migration 0005_auto_20220424_2025 (sqlmigrate output for SQLite)
BEGIN;
--
-- Alter field slug on tag
--
CREATE TABLE "new__taggit_tag" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "slug" varchar(100) NOT NULL UNIQUE, "name" varchar(100) NOT NULL UNIQUE);
INSERT INTO "new__taggit_tag" ("id", "name", "slug") SELECT "id", "name", "slug" FROM "taggit_tag";
DROP TABLE "taggit_tag";
ALTER TABLE "new__taggit_tag" RENAME TO "taggit_tag";
COMMIT;
