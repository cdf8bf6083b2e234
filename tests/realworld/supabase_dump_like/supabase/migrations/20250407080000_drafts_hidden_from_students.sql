BEGIN;
-- Archived assignments left the students' list too.
DROP POLICY IF EXISTS "Students read the assignments of their classes" ON public.assignment;
CREATE POLICY "Students read the assignments of their classes" ON public.assignment
  FOR SELECT TO authenticated
  USING (
    state IN ('open', 'closed')
    AND public.is_class_member((SELECT auth.uid()), class_id)
  );
COMMIT;
