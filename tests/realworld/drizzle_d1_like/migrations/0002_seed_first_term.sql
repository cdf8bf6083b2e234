-- Custom SQL migration file, put your code below! --
INSERT INTO `classes` (`id`, `name`, `homeroom_teacher`, `created_at`, `year`) VALUES (1, 'X IPA 1', 'Bu Ratna', 1720000000, 2024), (2, 'X IPS 2', NULL, 1720000000, 2024);--> statement-breakpoint
INSERT INTO `students` (`id`, `email`, `name`, `class_id`, `active`, `created_at`, `updated_at`, `phone`) VALUES
	(1, 'ahmad.fauzi@malnu.sch.id', 'Ahmad Fauzi', 1, true, 1720000100, 1720000100, '+62 812 0000 0001'),
	(2, 'nur.halimah@malnu.sch.id', 'Nur Halimah', 1, 1, 1720000200, NULL, NULL),
	(3, 'yoga.pratama@malnu.sch.id', 'Yoga Pratama', 2, false, 1720000300, 1720003600, NULL);--> statement-breakpoint
INSERT INTO `attendance` (`student_id`, `day`, `present`, `late_minutes`, `recorded_at`) VALUES
	(1, '2024-07-15', true, 0, 1720998000),
	(2, '2024-07-15', true, 12, 1720998720),
	(3, '2024-07-15', false, 0, 1720998000);
