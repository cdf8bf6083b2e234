-- Description: down of 20251001100000_student_email_updated_at
-- AlterTable
ALTER TABLE "Student" DROP COLUMN "email",
DROP COLUMN "updatedAt";
