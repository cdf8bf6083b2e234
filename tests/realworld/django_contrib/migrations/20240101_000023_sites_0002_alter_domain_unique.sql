-- Description: sites migration 0002_alter_domain_unique (sqlmigrate output for SQLite)
BEGIN;
--
-- Alter field domain on site
--
CREATE TABLE "new__django_site" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "domain" varchar(100) NOT NULL UNIQUE, "name" varchar(50) NOT NULL);
INSERT INTO "new__django_site" ("id", "name", "domain") SELECT "id", "name", "domain" FROM "django_site";
DROP TABLE "django_site";
ALTER TABLE "new__django_site" RENAME TO "django_site";
COMMIT;
