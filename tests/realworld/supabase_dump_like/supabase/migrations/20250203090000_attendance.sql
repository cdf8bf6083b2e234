-- Attendance: one register per class and lesson, one mark per student in it.
BEGIN;

CREATE TABLE public.attendance_register (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    class_id uuid NOT NULL REFERENCES public.school_class (id) ON DELETE CASCADE,
    lesson_date date NOT NULL,
    period smallint NOT NULL CHECK (period BETWEEN 1 AND 10),
    taken_by uuid NOT NULL DEFAULT auth.uid(),
    locked boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (class_id, lesson_date, period)
);

CREATE TYPE public.attendance_mark_kind AS ENUM ('present', 'late', 'absent', 'excused');

CREATE TABLE public.attendance_mark (
    register_id uuid NOT NULL REFERENCES public.attendance_register (id) ON DELETE CASCADE,
    student_id uuid NOT NULL,
    mark public.attendance_mark_kind NOT NULL DEFAULT 'present',
    minutes_late smallint CHECK (minutes_late IS NULL OR minutes_late > 0),
    note text,
    PRIMARY KEY (register_id, student_id)
);

CREATE INDEX attendance_mark_student_idx ON public.attendance_mark (student_id);

ALTER TABLE public.attendance_register ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.attendance_mark ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Teachers keep the registers of their classes"
ON public.attendance_register
FOR ALL
TO authenticated
USING (public.can_teach((SELECT auth.uid()), class_id))
WITH CHECK (public.can_teach((SELECT auth.uid()), class_id) AND NOT locked);

CREATE POLICY "Teachers mark the registers of their classes"
ON public.attendance_mark
FOR ALL
TO authenticated
USING (
  EXISTS (
    SELECT 1 FROM public.attendance_register r
    WHERE r.id = attendance_mark.register_id
      AND public.can_teach((SELECT auth.uid()), r.class_id)
  )
)
WITH CHECK (
  EXISTS (
    SELECT 1 FROM public.attendance_register r
    WHERE r.id = attendance_mark.register_id
      AND NOT r.locked
      AND public.can_teach((SELECT auth.uid()), r.class_id)
  )
);

CREATE POLICY "Students read their own marks"
ON public.attendance_mark
FOR SELECT
TO authenticated
USING ((SELECT auth.uid()) = student_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON public.attendance_register, public.attendance_mark
  TO authenticated, service_role;

COMMIT;
