-- Description: down
ALTER TABLE "students" ALTER COLUMN "status" DROP NOT NULL;
ALTER TABLE "students" DROP COLUMN "status";
