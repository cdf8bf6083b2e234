-- Description: CreateGuardians; add_reference :students, :guardian, foreign_key: true
CREATE TABLE "guardians" ("id" bigserial primary key, "name" character varying NOT NULL, "phone" character varying, "email" character varying, "created_at" timestamp(6) without time zone NOT NULL, "updated_at" timestamp(6) without time zone NOT NULL);
CREATE UNIQUE INDEX "index_guardians_on_email" ON "guardians" ("email") WHERE email IS NOT NULL;
ALTER TABLE "students" ADD "guardian_id" bigint;
CREATE INDEX "index_students_on_guardian_id" ON "students" ("guardian_id");
ALTER TABLE "students" ADD CONSTRAINT "fk_rails_8e2b7d4c61"
FOREIGN KEY ("guardian_id")
  REFERENCES "guardians" ("id")
;
