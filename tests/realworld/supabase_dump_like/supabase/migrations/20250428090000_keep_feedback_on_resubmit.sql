BEGIN;

-- A student who hands in again after the work came back is graded again: the old points
-- go, the teacher's feedback stays for the student to read.
CREATE OR REPLACE FUNCTION public.stamp_hand_in()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
  IF new.state = 'handed_in' AND old.state IS DISTINCT FROM 'handed_in' THEN
    new.handed_in_at := now();
    new.is_late := coalesce(now() > (SELECT a.due_at FROM public.assignment a
                                     WHERE a.id = new.assignment_id), false);
    IF old.state = 'returned' THEN
      new.points := NULL;
    END IF;
  END IF;
  RETURN new;
END;
$$;

COMMENT ON FUNCTION public.stamp_hand_in() IS 'Stamps the hand-in time and the late flag; a resubmission clears the points, not the feedback.';

COMMIT;
