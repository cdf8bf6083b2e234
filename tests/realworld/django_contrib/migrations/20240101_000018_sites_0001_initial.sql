-- Description: sites migration 0001_initial (sqlmigrate output for SQLite)
BEGIN;
--
-- Create model Site
--
CREATE TABLE "django_site" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "domain" varchar(100) NOT NULL, "name" varchar(50) NOT NULL);
COMMIT;
