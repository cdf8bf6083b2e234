-- Description: down: remove_reference, drop_table :guardians
ALTER TABLE "students" DROP CONSTRAINT "fk_rails_8e2b7d4c61";
ALTER TABLE "students" DROP COLUMN "guardian_id";
DROP TABLE "guardians";
