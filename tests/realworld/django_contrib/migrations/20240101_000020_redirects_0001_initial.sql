-- Description: redirects migration 0001_initial (sqlmigrate output for SQLite)
BEGIN;
--
-- Create model Redirect
--
CREATE TABLE "django_redirect" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "site_id" integer NOT NULL REFERENCES "django_site" ("id") DEFERRABLE INITIALLY DEFERRED, "old_path" varchar(200) NOT NULL, "new_path" varchar(200) NOT NULL);
CREATE UNIQUE INDEX "django_redirect_site_id_old_path_ac5dd16b_uniq" ON "django_redirect" ("site_id", "old_path");
CREATE INDEX "django_redirect_site_id_c3e37341" ON "django_redirect" ("site_id");
CREATE INDEX "django_redirect_old_path_c6cc94d3" ON "django_redirect" ("old_path");
COMMIT;
