-- Description: CreateAttendances (t.references :student, null: false, foreign_key: true; a unique index on the pair)
CREATE TABLE "attendances" ("id" bigserial primary key, "student_id" bigint NOT NULL, "on" date NOT NULL, "present" boolean DEFAULT TRUE NOT NULL, "note" text, "created_at" timestamp(6) without time zone NOT NULL, "updated_at" timestamp(6) without time zone NOT NULL, CONSTRAINT "fk_rails_2a6f90d3e7"
FOREIGN KEY ("student_id")
  REFERENCES "students" ("id")
);
CREATE INDEX "index_attendances_on_student_id" ON "attendances" ("student_id");
CREATE UNIQUE INDEX "index_attendances_on_student_id_and_on" ON "attendances" ("student_id", "on");
