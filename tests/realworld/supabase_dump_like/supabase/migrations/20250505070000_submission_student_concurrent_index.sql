CREATE INDEX CONCURRENTLY IF NOT EXISTS submission_student_handed_in_idx
ON public.submission (student_id, handed_in_at DESC);
