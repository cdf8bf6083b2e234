-- Description: add_column :students, :status; backfill; change_column_null :students, :status, false
ALTER TABLE "students" ADD "status" character varying;
UPDATE "students" SET "status" = 'active' WHERE "students"."status" IS NULL;
ALTER TABLE "students" ALTER COLUMN "status" SET NOT NULL;
