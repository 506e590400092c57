-- When a patient was first known here: prevalence as of a day counts only
-- the patients known by then.
ALTER TABLE patient ADD COLUMN first_day date NOT NULL DEFAULT DATE '1900-01-01';
