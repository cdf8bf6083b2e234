BEGIN;

-- Teachers filter the gradebook on late work: keep the flag on the row, set on hand-in.
ALTER TABLE public.submission ADD COLUMN is_late boolean;

UPDATE public.submission s
SET is_late = (s.handed_in_at > a.due_at)
FROM public.assignment a
WHERE a.id = s.assignment_id
  AND s.handed_in_at IS NOT NULL
  AND a.due_at IS NOT NULL;

CREATE INDEX IF NOT EXISTS submission_assignment_handed_in_idx
ON public.submission (assignment_id)
WHERE state <> 'started';

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
  END IF;
  RETURN new;
END;
$$;

REVOKE ALL ON FUNCTION public.stamp_hand_in() FROM PUBLIC;

DROP TRIGGER IF EXISTS stamp_hand_in ON public.submission;

CREATE TRIGGER stamp_hand_in
BEFORE UPDATE OF state ON public.submission
FOR EACH ROW
EXECUTE FUNCTION public.stamp_hand_in();

COMMIT;
