-- Migration number: 0002 	 2024-07-15T02:31:09.077Z
-- The first school year's classes and pupils, entered by the office before the app wrote any.
INSERT INTO "Course" ("id", "code", "title", "credits", "fee", "archived") VALUES
    ('clyn3k0v50000qz8h2b7c1x9d', 'MTK-X', 'Matematika Wajib X', 4, 0, false),
    ('clyn3k0v50001qz8h5f0e3a2b', 'BIO-X', 'Biologi X', 3, 150000.5, false),
    ('clyn3k0v50002qz8h9d4c6b1a', 'TIK-X', 'Informatika X (lama)', 2, 0, true);
INSERT INTO "Student" ("nis", "fullName", "email", "isActive", "createdAt", "updatedAt") VALUES
    ('2024001', 'Siti Aisyah', 'siti.aisyah@malnu.sch.id', true, '2024-07-15 02:31:09', '2024-07-15 02:31:09'),
    ('2024002', 'Muhammad Rizky', NULL, true, '2024-07-15 02:31:09', '2024-07-15 02:31:09'),
    ('2024003', 'Dewi Lestari', 'dewi@malnu.sch.id', false, '2024-07-15 02:31:09', '2024-07-15 02:31:09');
INSERT INTO "Enrolment" ("id", "studentId", "courseId", "score", "passed", "enrolledAt") VALUES
    ('clyn3k0v60003qz8hab12cd34', 1, 'clyn3k0v50000qz8h2b7c1x9d', 87.5, true, '2024-07-15 02:31:09'),
    ('clyn3k0v60004qz8hef56gh78', 1, 'clyn3k0v50001qz8h5f0e3a2b', NULL, NULL, '2024-07-15 02:31:09'),
    ('clyn3k0v60005qz8hij90kl12', 2, 'clyn3k0v50000qz8h2b7c1x9d', 59, false, '2024-07-15 02:31:09');
