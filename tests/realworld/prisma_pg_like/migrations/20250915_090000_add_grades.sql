-- Description: 20250915090000_add_grades
-- CreateTable
CREATE TABLE "Grade" (
    "id" SERIAL NOT NULL,
    "enrolmentId" INTEGER NOT NULL,
    "subject" TEXT NOT NULL,
    "term" "Term" NOT NULL,
    "score" DECIMAL(5,2) NOT NULL,

    CONSTRAINT "Grade_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Grade_enrolmentId_idx" ON "Grade"("enrolmentId");

-- AddForeignKey
ALTER TABLE "Grade" ADD CONSTRAINT "Grade_enrolmentId_fkey" FOREIGN KEY ("enrolmentId") REFERENCES "Enrolment"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
